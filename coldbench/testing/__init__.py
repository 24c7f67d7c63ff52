"""Real loopback servers for tests and benchmarks (not mocks): an echo/latency server and a
fault-injecting target. Each runs as its own process and prints one JSON ready line."""
