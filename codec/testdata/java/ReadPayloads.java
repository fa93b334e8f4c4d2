import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.ObjectInputStream;
import java.io.ObjectOutputStream;
import java.nio.file.Files;
import java.nio.file.Paths;
import java.util.IdentityHashMap;

/**
 * Reads each file named on the command line (or listed, one path a line, in the file after
 * "-list") with ObjectInputStream.readObject, as Flink's client reads a failure payload, and
 * prints what it got, one line per item:
 *
 * <pre>
 * FILE path
 * EX depth class message       (one per exception of the cause chain; message = UTF-16 code
 *                              units in hex, "-" when null; getCause() == null ends the chain)
 * INFO stackDepth suppressedCount    (of the top-level exception)
 * RESER hex                    (the exception re-serialized by ObjectOutputStream after setting
 *                              every stack trace in the chain to an empty array)
 * ERROR class: message         (instead of the above when reading fails)
 * END
 * </pre>
 */
public class ReadPayloads {
    public static void main(String[] args) throws Exception {
        java.util.List<String> paths = new java.util.ArrayList<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("-list") && i + 1 < args.length) {
                paths.addAll(Files.readAllLines(Paths.get(args[++i])));
            } else {
                paths.add(args[i]);
            }
        }
        StringBuilder out = new StringBuilder();
        for (String path : paths) {
            out.append("FILE ").append(path).append('\n');
            try {
                byte[] b = Files.readAllBytes(Paths.get(path));
                Object o;
                try (ObjectInputStream in = new ObjectInputStream(new ByteArrayInputStream(b))) {
                    o = in.readObject();
                }
                Throwable t = (Throwable) o;
                IdentityHashMap<Throwable, Boolean> seen = new IdentityHashMap<>();
                int depth = 0;
                for (Throwable x = t; x != null && !seen.containsKey(x); x = x.getCause()) {
                    seen.put(x, true);
                    out.append("EX ").append(depth++).append(' ').append(x.getClass().getName())
                            .append(' ').append(hex(x.getMessage())).append('\n');
                }
                out.append("INFO ").append(t.getStackTrace().length).append(' ')
                        .append(t.getSuppressed().length).append('\n');
                for (Throwable x : seen.keySet()) {
                    x.setStackTrace(new StackTraceElement[0]);
                }
                ByteArrayOutputStream bo = new ByteArrayOutputStream();
                try (ObjectOutputStream oo = new ObjectOutputStream(bo)) {
                    oo.writeObject(t);
                }
                StringBuilder h = new StringBuilder();
                for (byte x : bo.toByteArray()) {
                    h.append(String.format("%02x", x & 0xff));
                }
                out.append("RESER ").append(h).append('\n');
            } catch (Throwable e) {
                out.append("ERROR ").append(e.toString().replace('\n', ' ')).append('\n');
            }
            out.append("END\n");
        }
        System.out.print(out);
    }

    private static String hex(String s) {
        if (s == null) {
            return "-";
        }
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < s.length(); i++) {
            b.append(String.format("%04x", (int) s.charAt(i)));
        }
        return b.toString();
    }
}
