"""The local Lambda-compatible sandbox (`coldbench sandbox`): real awslambdaric runtimes with
Lambda's cold-start behaviour, a container mode for the same handlers, and ground truth.

Start it from Python with `coldbench.sandbox.process.SandboxProcess` (a context manager), or
in-process with `coldbench.sandbox.server.serve`. Modules, one concept each:

    config            function and sandbox settings, keep-alive distributions, name checks
    bootstrap         first code of every runtime process (pdeathsig, private /tmp, init delay)
    launcher          spawning/watching child processes, runtime environment, state dir
    instance          one execution environment and its invocations
    pool              scaling rules of one function
    lambda_platform   all pools, host caps, memory watchdog
    runtime_api       Lambda Runtime API for awslambdaric (a port per instance)
    function_url      HTTP <-> payload 2.0 mapping (pure)
    url_api           /fn/<name>/ and /container/<name>/ surfaces
    invoke_api        Lambda Invoke API with log tails
    control_api       GetFunction, UpdateFunctionConfiguration, concurrency APIs
    container         container mode: always-on workers and the proxy
    container_worker  the worker process
    truth             ground-truth invocation log
    shapes            Lambda-shaped payloads
    server            the app, sandbox endpoints, start-up
    process           SandboxProcess
"""
