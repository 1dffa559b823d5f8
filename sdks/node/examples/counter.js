// The Node.js side of the polyglot example: actor `js-counter` with JSON state.
// Run: PROXY_HTTP_PORT=9001 USER_FUNCTION_PORT=8090 node examples/counter.js  (after npm run build)
const spawn = require('../dist/src');
const { Value } = spawn;

const system = spawn.createSystem(process.env.ROOST_SYSTEM || 'spawn-system');

system
  .buildActor({ name: 'js-counter', initialState: { total: 0 } })
  .addAction('add', (ctx, payload) => {
    const total = ctx.state.total + payload.value;
    return Value.of().state({ total }).response({ total });
  })
  // A Node action calling a Python actor: the callee sees js-counter as its caller.
  .addAction('ask_python', async (ctx) => {
    const reply = await ctx.invoke('doubler', { action: 'whoami', metadata: { lang: 'node' } });
    return Value.of().response(reply);
  });

system
  .register({ host: process.env.USER_FUNCTION_HOST || '127.0.0.1' })
  .then((port) => console.log(`registered js-counter, serving on ${port}`))
  .catch((err) => {
    console.error(`registration failed: ${err.message}`);
    process.exit(1);
  });
