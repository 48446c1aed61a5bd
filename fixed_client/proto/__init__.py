"""Generated etcd v3 protobuf/gRPC modules (see regenerate.py); registered as fixed_client/etcd/*.proto."""
