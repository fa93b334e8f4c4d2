import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.ObjectInputStream;
import java.net.Socket;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;

import org.apache.flink.queryablestate.exceptions.UnknownKeyOrNamespaceException;
import org.apache.flink.queryablestate.exceptions.UnknownLocationException;

/**
 * A Java client of the queryable-state wire protocol, written the way
 * Flink's MessageSerializer and KvStateRequest write and read it: it sends
 * pipelined KvStateRequest frames for Integer keys of the synthetic
 * ValueState<byte[]> (IntSerializer key, VoidNamespace), checks each value
 * byte for byte, and deserializes failures with ObjectInputStream, as
 * Flink's client does, into the exception classes on its classpath.
 *
 * Usage: QueryClient host port jobIdHex stateName keys valueSize
 * Prints "OK <values> <failures>" and exits 0, or prints the problem and exits 1.
 */
public class QueryClient {
    static final int VERSION = 0x79A1B710;
    static final int REQUEST = 0, REQUEST_RESULT = 1, REQUEST_FAILURE = 2, SERVER_FAILURE = 3;

    public static void main(String[] args) throws Exception {
        String host = args[0];
        int port = Integer.parseInt(args[1]);
        byte[] job = hex(args[2]);
        byte[] name = args[3].getBytes(StandardCharsets.UTF_8);
        int keys = Integer.parseInt(args[4]);
        int valueSize = Integer.parseInt(args[5]);

        // Request id -> key; ids from 0 as Flink's client counts them.
        Map<Long, Integer> present = new HashMap<>();
        long id = 0;
        try (Socket s = new Socket(host, port)) {
            s.setSoTimeout(10_000);
            DataOutputStream out = new DataOutputStream(new BufferedOutputStream(s.getOutputStream()));
            DataInputStream in = new DataInputStream(new BufferedInputStream(s.getInputStream()));
            int stride = Math.max(1, keys / 200);
            for (int k = 0; k < keys; k += stride) {
                present.put(id, k);
                writeRequest(out, id++, job, name, k);
            }
            long missingId = id++;
            writeRequest(out, missingId, job, name, keys + 5);
            byte[] otherJob = job.clone();
            otherJob[0] ^= (byte) 0xff;
            long unknownJobId = id++;
            writeRequest(out, unknownJobId, otherJob, name, 1);
            out.flush();

            int values = 0, failures = 0;
            for (long n = 0; n < id; n++) {
                int frameLength = in.readInt();
                byte[] frame = new byte[frameLength];
                in.readFully(frame);
                DataInputStream f = new DataInputStream(new ByteArrayInputStream(frame));
                if (f.readInt() != VERSION) fail("bad version");
                int type = f.readInt();
                if (type == SERVER_FAILURE) fail("SERVER_FAILURE: " + readThrowable(f));
                long reqId = f.readLong();
                if (type == REQUEST_RESULT) {
                    Integer key = present.remove(reqId);
                    if (key == null) fail("unexpected result for id " + reqId);
                    int contentLen = f.readInt();
                    byte[] content = new byte[contentLen];
                    f.readFully(content);
                    // BytePrimitiveArraySerializer: i32 length, then the bytes.
                    DataInputStream c = new DataInputStream(new ByteArrayInputStream(content));
                    int len = c.readInt();
                    if (len != valueSize || contentLen != 4 + valueSize) fail("key " + key + ": length " + len);
                    for (int j = 0; j < valueSize; j++) {
                        byte b = c.readByte();
                        if (b != (byte) (key * 31 + j)) fail("key " + key + ": byte " + j + " is " + b);
                    }
                    values++;
                } else if (type == REQUEST_FAILURE) {
                    Throwable t = readThrowable(f);
                    if (reqId == missingId) {
                        if (!(t instanceof UnknownKeyOrNamespaceException)) fail("missing key: " + t);
                        if (!t.getMessage().equals("Queryable State Server : No state for the specified key/namespace.")) {
                            fail("missing key message: " + t.getMessage());
                        }
                    } else if (reqId == unknownJobId) {
                        if (t.getClass() != RuntimeException.class) fail("unknown job: " + t);
                        if (!t.getMessage().startsWith("Failed request " + unknownJobId + ".")) fail("unknown job message: " + t.getMessage());
                        if (!(t.getCause() instanceof UnknownLocationException)) fail("unknown job cause: " + t.getCause());
                    } else {
                        fail("unexpected failure for id " + reqId + ": " + t);
                    }
                    failures++;
                } else {
                    fail("unexpected message type " + type);
                }
            }
            if (!present.isEmpty()) fail(present.size() + " requests unanswered");
            System.out.println("OK " + values + " " + failures);
        }
    }

    /** KvStateRequest frame for an Integer key in the VoidNamespace. */
    static void writeRequest(DataOutputStream out, long id, byte[] job, byte[] name, int key) throws Exception {
        ByteArrayOutputStream kn = new ByteArrayOutputStream();
        DataOutputStream knOut = new DataOutputStream(kn);
        knOut.writeInt(key);       // IntSerializer
        knOut.writeByte(42);       // magic number
        knOut.writeByte(0);        // VoidNamespaceSerializer
        writeRequest(out, id, job, name, Integer.valueOf(key).hashCode(), kn.toByteArray());
    }

    /** KvStateRequest frame as MessageSerializer.serializeRequest writes it. */
    static void writeRequest(DataOutputStream out, long id, byte[] job, byte[] name, int keyHash, byte[] keyAndNamespace) throws Exception {
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        DataOutputStream b = new DataOutputStream(body);
        b.write(job);
        b.writeInt(name.length);
        b.write(name);
        b.writeInt(keyHash);
        b.writeInt(keyAndNamespace.length);
        b.write(keyAndNamespace);

        byte[] payload = body.toByteArray();
        out.writeInt(4 + 4 + 8 + payload.length);
        out.writeInt(VERSION);
        out.writeInt(REQUEST);
        out.writeLong(id);
        out.write(payload);
    }

    static Throwable readThrowable(DataInputStream in) throws Exception {
        byte[] rest = in.readAllBytes();
        try (ObjectInputStream ois = new ObjectInputStream(new ByteArrayInputStream(rest))) {
            return (Throwable) ois.readObject();
        }
    }

    static byte[] hex(String s) {
        byte[] b = new byte[s.length() / 2];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) Integer.parseInt(s.substring(2 * i, 2 * i + 2), 16);
        }
        return b;
    }

    static void fail(String msg) {
        System.out.println("FAIL " + msg);
        System.exit(1);
    }
}
