"""Sans-IO core of fixed_client: no sockets, threads, clocks or grpc; only protobuf messages in and out.

- keys: StreamKey, the stable registry key (canonical outgoing metadata)
- registry: StreamRegistry, streams stored and removed under the same key object
- watch: WatchStreamCore, the per-stream watch state machine
- lease: LeaseSchedule, keep-alive timing and lease loss
- lock: the concurrency.Mutex recipe's requests and decisions
- requests / convert: input validation, request builders, protobuf -> public types
- backoff: reconnect delays
"""
