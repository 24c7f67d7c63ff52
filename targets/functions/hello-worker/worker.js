// hello-worker: the Workers twin of targets/functions/hello, for workerd (coldbench.workerd).
//
// Answers every request with {"message": "hello", "function": "hello-worker"} and the
// ground-truth headers coldbench reads (DESIGN.md): X-Coldbench-Instance names this isolate,
// X-Coldbench-Invocation counts requests served by it (1 = the isolate's first request).
// The isolate id is made on the first request, not at module scope: Workers forbid random
// values in global scope. No X-Coldbench-Init-Ms: inside an isolate the clock does not advance
// during the module's evaluation, so the worker cannot time its own start; coldbench measures
// it from outside (coldbench/workerd/process.py).

let isolateId = null;
let invocations = 0;

export default {
  async fetch(request, env, ctx) {
    isolateId ??= `workerd-${crypto.randomUUID()}`;
    invocations += 1;
    const body = JSON.stringify({ message: "hello", function: "hello-worker" });
    return new Response(body, {
      status: 200,
      headers: {
        "Content-Type": "application/json",
        "X-Coldbench-Instance": isolateId,
        "X-Coldbench-Invocation": String(invocations),
      },
    });
  },
};
