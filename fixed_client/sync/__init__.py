"""The synchronous transport: grpcio channels, one owner thread per watch stream."""
