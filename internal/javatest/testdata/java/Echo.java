import java.io.BufferedReader;
import java.io.InputStreamReader;

/** Echo prints its arguments, then its standard input upper-cased; "fail" as an argument exits with 3. */
public class Echo {
    public static void main(String[] args) throws Exception {
        for (String a : args) {
            if (a.equals("fail")) {
                System.err.println("asked to fail");
                System.exit(3);
            }
            System.out.println("ARG " + a);
        }
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, "UTF-8"));
        for (String line; (line = in.readLine()) != null; ) {
            System.out.println("IN " + line.toUpperCase());
        }
    }
}
