package org.apache.flink.queryablestate.exceptions;

import org.apache.flink.queryablestate.network.BadRequestException;

/** Test stub: Flink's UnknownKvStateIdException, same name, superclass and serialVersionUID. */
public class UnknownKvStateIdException extends BadRequestException {
    private static final long serialVersionUID = 1L;

    public UnknownKvStateIdException(String serverName, String message) {
        super(serverName, message);
    }
}
