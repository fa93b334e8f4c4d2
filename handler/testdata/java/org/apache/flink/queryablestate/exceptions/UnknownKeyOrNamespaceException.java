package org.apache.flink.queryablestate.exceptions;

import org.apache.flink.queryablestate.network.BadRequestException;

/** Test stub: Flink's UnknownKeyOrNamespaceException, same name, superclass and serialVersionUID. */
public class UnknownKeyOrNamespaceException extends BadRequestException {
    private static final long serialVersionUID = 1L;

    public UnknownKeyOrNamespaceException(String serverName, String message) {
        super(serverName, message);
    }
}
