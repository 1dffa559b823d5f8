// Invoke any actor from Node: node examples/invoke.js ACTOR ACTION '{"value": 5}' [SYSTEM]
const spawn = require('../dist/src');

const [actor, action, payload, system] = process.argv.slice(2);
spawn
  .invoke(actor, { action, system: system || 'spawn-system', payload: payload ? JSON.parse(payload) : undefined })
  .then((reply) => console.log(JSON.stringify(reply)))
  .catch((err) => {
    console.error(`${err.name}: ${err.message}`);
    process.exit(1);
  });
