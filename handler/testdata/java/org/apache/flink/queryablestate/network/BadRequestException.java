package org.apache.flink.queryablestate.network;

/** Test stub: Flink's BadRequestException, same name, superclass and serialVersionUID. */
public class BadRequestException extends Exception {
    private static final long serialVersionUID = 3458743952407632903L;

    public BadRequestException(String serverName, String message) {
        super(serverName + " : " + message);
    }
}
