package org.apache.flink.queryablestate.exceptions;

import org.apache.flink.util.FlinkException;

/** Test stub: Flink's UnknownLocationException, same name, superclass and serialVersionUID. */
public class UnknownLocationException extends FlinkException {
    private static final long serialVersionUID = 9092442511708951209L;

    public UnknownLocationException(String message) {
        super(message);
    }
}
