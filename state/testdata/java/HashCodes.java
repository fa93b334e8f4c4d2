import java.io.BufferedReader;
import java.io.InputStreamReader;

/**
 * Reads one request per line from stdin and prints what the JVM computes:
 *   S <utf16 hex>   -> String.hashCode and length()
 *   L <decimal>     -> Long.hashCode
 *   I <decimal>     -> Integer.hashCode
 *   D <bits hex>    -> Double.hashCode and doubleToLongBits (hex)
 *   F <bits hex>    -> Float.hashCode and floatToIntBits (hex)
 */
public class HashCodes {
    public static void main(String[] args) throws Exception {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "US-ASCII"));
        StringBuilder out = new StringBuilder();
        for (String line; (line = in.readLine()) != null; ) {
            String[] f = line.split(" ", -1);
            switch (f[0]) {
                case "S": {
                    char[] cs = new char[f[1].length() / 4];
                    for (int i = 0; i < cs.length; i++) {
                        cs[i] = (char) Integer.parseInt(f[1].substring(4 * i, 4 * i + 4), 16);
                    }
                    String s = new String(cs);
                    out.append(s.hashCode()).append(' ').append(s.length());
                    break;
                }
                case "L":
                    out.append(Long.valueOf(Long.parseLong(f[1])).hashCode());
                    break;
                case "I":
                    out.append(Integer.valueOf(Integer.parseInt(f[1])).hashCode());
                    break;
                case "D": {
                    double d = Double.longBitsToDouble(Long.parseUnsignedLong(f[1], 16));
                    out.append(Double.valueOf(d).hashCode()).append(' ')
                       .append(Long.toHexString(Double.doubleToLongBits(d)));
                    break;
                }
                case "F": {
                    float x = Float.intBitsToFloat(Integer.parseUnsignedInt(f[1], 16));
                    out.append(Float.valueOf(x).hashCode()).append(' ')
                       .append(Integer.toHexString(Float.floatToIntBits(x)));
                    break;
                }
                default:
                    throw new IllegalArgumentException(line);
            }
            out.append('\n');
        }
        System.out.print(out);
    }
}
