package org.apache.flink.util;

/** Test stub: Flink's FlinkException, same name, superclass and serialVersionUID. */
public class FlinkException extends Exception {
    private static final long serialVersionUID = 450688772469004724L;

    public FlinkException(String message) {
        super(message);
    }
}
