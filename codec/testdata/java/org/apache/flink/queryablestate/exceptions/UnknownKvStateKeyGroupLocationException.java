package org.apache.flink.queryablestate.exceptions;

import org.apache.flink.queryablestate.network.BadRequestException;

/** Test stub: Flink's UnknownKvStateKeyGroupLocationException, same name, superclass and serialVersionUID. */
public class UnknownKvStateKeyGroupLocationException extends BadRequestException {
    private static final long serialVersionUID = 1L;

    public UnknownKvStateKeyGroupLocationException(String serverName, String message) {
        super(serverName, message);
    }
}
