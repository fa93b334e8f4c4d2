import java.io.Externalizable;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.ObjectInput;
import java.io.ObjectInputStream;
import java.io.ObjectOutput;
import java.io.ObjectOutputStream;
import java.io.Serializable;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Date;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.apache.flink.queryablestate.exceptions.UnknownLocationException;

/**
 * Writes Java serialization streams that use every feature a stream may hold around a
 * Throwable, one file per stream, into the directory named by the first argument. The Go test
 * reads each with codec.ReadThrowable and with ReadPayloads (ObjectInputStream) and compares.
 */
public class WriteFeatures {
    enum Color { RED, GREEN }

    static class Handler implements InvocationHandler, Serializable {
        private static final long serialVersionUID = 1L;
        String name = "handler";

        public Object invoke(Object proxy, Method m, Object[] args) {
            return null;
        }
    }

    static class Ext implements Externalizable {
        private static final long serialVersionUID = 1L;

        public Ext() {}

        public void writeExternal(ObjectOutput out) throws IOException {
            out.writeInt(7);
            out.writeUTF("ext");
            out.writeObject(List.of(1, 2));
            out.write(new byte[1000]);
        }

        public void readExternal(ObjectInput in) throws IOException, ClassNotFoundException {
            in.readInt();
            in.readUTF();
            in.readObject();
            in.readFully(new byte[1000]);
        }
    }

    /** A Throwable subclass with fields of every kind and writeObject data. */
    static class CustomException extends IllegalStateException {
        private static final long serialVersionUID = 5L;
        byte b = 1;
        char c = 'c';
        double d = 2.5;
        float f = 1.5f;
        int i = 42;
        long j = 1L << 40;
        short s = 7;
        boolean z = true;
        TimeUnit unit = TimeUnit.SECONDS;
        Color color = Color.GREEN;
        Class<?> type = String.class;
        int[] ints = {1, 2, 3};
        long[][] longs = {{1}, {2, 3}};
        char[] chars = "hi".toCharArray();
        double[] doubles = {1.0};
        boolean[] bools = {true};
        short[] shorts = {1};
        float[] floats = {1f};
        byte[] bytes = new byte[300];
        Object[] objects;
        Map<String, Object> map = new HashMap<>();
        Runnable proxy;
        Ext ext = new Ext();
        Date date = new Date(0);

        CustomException(String m, Throwable cause) {
            super(m, cause);
            objects = new Object[] {"x", 1, 2L, null, ints, Color.RED, Integer.class, new ArrayList<>(List.of("a"))};
            map.put("k", List.of("v"));
            proxy = (Runnable) Proxy.newProxyInstance(WriteFeatures.class.getClassLoader(),
                    new Class<?>[] {Runnable.class}, new Handler());
        }

        private void writeObject(ObjectOutputStream out) throws IOException {
            out.defaultWriteObject();
            out.writeInt(99);
            out.writeObject("extra");
            out.write(new byte[400]);
        }

        private void readObject(ObjectInputStream in) throws IOException, ClassNotFoundException {
            in.defaultReadObject();
            in.readInt();
            in.readObject();
            in.readFully(new byte[400]);
        }
    }

    interface Writer {
        void write(ObjectOutputStream out) throws Exception;
    }

    static void file(String dir, String name, Writer w) throws Exception {
        try (ObjectOutputStream out = new ObjectOutputStream(new FileOutputStream(Paths.get(dir, name).toFile()))) {
            w.write(out);
        }
    }

    public static void main(String[] args) throws Exception {
        String dir = args[0];
        file(dir, "custom.bin", out -> {
            CustomException e = new CustomException("custom \u2603 \u0000 \ud83d\ude00", new RuntimeException("root"));
            e.addSuppressed(new IllegalArgumentException("suppressed"));
            out.writeObject(e);
        });
        file(dir, "reset.bin", out -> {
            out.reset();
            out.reset();
            out.writeObject(new RuntimeException("after reset"));
        });
        file(dir, "long_message.bin", out -> {
            StringBuilder b = new StringBuilder();
            for (int i = 0; i < 20000; i++) {
                b.append("a\u00e9\u20ac");
            }
            out.writeObject(new RuntimeException(b.toString()));
        });
        file(dir, "cycle.bin", out -> {
            RuntimeException a = new RuntimeException("a");
            IllegalStateException b = new IllegalStateException("b", a);
            a.initCause(b);
            out.writeObject(a);
        });
        file(dir, "null_message.bin", out -> out.writeObject(new RuntimeException((String) null, new IOException("io"))));
        file(dir, "deep_chain.bin", out -> {
            Throwable t = new IllegalArgumentException("bottom");
            for (int i = 0; i < 30; i++) {
                t = new RuntimeException("level " + i, t);
            }
            out.writeObject(t);
        });
        file(dir, "shared_string.bin", out -> {
            String s = "same message";
            out.writeObject(new RuntimeException(s, new IllegalStateException(s)));
        });
        file(dir, "lone_surrogate.bin", out -> out.writeObject(new RuntimeException("a\ud800b\udc00c")));
        file(dir, "flink_subclass.bin", out -> out.writeObject(
                new UnknownLocationException("Could not retrieve location of state=s of job=00.")));
        file(dir, "unshared.bin", out -> out.writeUnshared(new IllegalStateException("unshared")));
        file(dir, "not_throwable.bin", out -> out.writeObject("just a string"));
        file(dir, "not_throwable_list.bin", out -> out.writeObject(new ArrayList<>(List.of(new RuntimeException("in a list")))));
    }
}
