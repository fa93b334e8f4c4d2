import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;

/**
 * A Java client of the queryable-state wire protocol for String-keyed
 * states, written the way Flink's QueryableStateClient builds a
 * KvStateRequest: the key serialized by Flink's StringSerializer
 * (StringValue.writeString), the magic byte 42 and VoidNamespace, the key
 * hash being the key's Java String.hashCode(). It sends one pipelined
 * request per (state, key) pair and prints one line per answer, in the
 * order of the pairs:
 *
 *   VALUE <state> <key> <content as hex>
 *   FAILURE <state> <key> <exception class> <message, line breaks as \n>
 *
 * Failures are deserialized with ObjectInputStream, as Flink's client
 * does, into the exception classes on its classpath (the stubs beside it).
 *
 * Usage: QueryKey host port jobIdHex state key [state key ...]
 * Exits 0 after printing every answer, 1 on a protocol problem.
 */
public class QueryKey {
    // Frame constants, the frame writer and the failure reader are QueryClient's.
    static final int VERSION = QueryClient.VERSION;
    static final int REQUEST_RESULT = QueryClient.REQUEST_RESULT, REQUEST_FAILURE = QueryClient.REQUEST_FAILURE,
            SERVER_FAILURE = QueryClient.SERVER_FAILURE;

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        byte[] job = QueryClient.hex(args[2]);
        int n = (args.length - 3) / 2;
        String[] states = new String[n], keys = new String[n], answers = new String[n];
        try (Socket s = new Socket(host, port)) {
            s.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
            for (int i = 0; i < n; i++) {
                states[i] = args[3 + 2 * i];
                keys[i] = args[4 + 2 * i];
                writeRequest(out, i, job, states[i].getBytes(StandardCharsets.UTF_8), keys[i]);
            }
            out.flush();
            for (int got = 0; got < n; got++) {
                byte[] frame = new byte[in.readInt()];
                in.readFully(frame);
                DataInputStream f = new DataInputStream(new ByteArrayInputStream(frame));
                if (f.readInt() != VERSION) QueryClient.fail("bad version");
                int type = f.readInt();
                if (type == SERVER_FAILURE) QueryClient.fail("SERVER_FAILURE: " + QueryClient.readThrowable(f));
                int id = (int) f.readLong();
                if (id < 0 || id >= n || answers[id] != null) QueryClient.fail("unexpected answer id " + id);
                String prefix = states[id] + " " + keys[id] + " ";
                if (type == REQUEST_RESULT) {
                    byte[] content = new byte[f.readInt()];
                    f.readFully(content);
                    answers[id] = "VALUE " + prefix + toHex(content);
                } else if (type == REQUEST_FAILURE) {
                    Throwable t = QueryClient.readThrowable(f);
                    answers[id] = "FAILURE " + prefix + t.getClass().getName() + " " + t.getMessage().replace("\n", "\\n");
                } else {
                    QueryClient.fail("unexpected message type " + type);
                }
            }
        }
        for (String a : answers) System.out.println(a);
    }

    /** KvStateRequest frame for a String key in the VoidNamespace. */
    static void writeRequest(DataOutputStream out, long id, byte[] job, byte[] name, String key) throws Exception {
        ByteArrayOutputStream kn = new ByteArrayOutputStream();
        DataOutputStream knOut = new DataOutputStream(kn);
        writeString(key, knOut); // StringSerializer
        knOut.writeByte(42);     // magic number
        knOut.writeByte(0);      // VoidNamespaceSerializer
        QueryClient.writeRequest(out, id, job, name, key.hashCode(), kn.toByteArray());
    }

    /** Flink's StringValue.writeString: length + 1, then each char, variable-length encoded. */
    static void writeString(String cs, DataOutputStream out) throws Exception {
        int len = cs.length() + 1;
        while (len >= 0x80) {
            out.write(len | 0x80);
            len >>>= 7;
        }
        out.write(len);
        for (int i = 0; i < cs.length(); i++) {
            int c = cs.charAt(i);
            while (c >= 0x80) {
                out.write(c | 0x80);
                c >>>= 7;
            }
            out.write(c);
        }
    }

    static String toHex(byte[] b) {
        StringBuilder sb = new StringBuilder();
        for (byte x : b) sb.append(String.format("%02x", x));
        return sb.toString();
    }
}
