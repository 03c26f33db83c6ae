import { createRequire } from 'node:module';

// `node:http` loaded with require, never with an ES import. An ES import of a built-in builds its
// module namespace from every export, which runs `node:http`'s lazy getters (WebSocket,
// EventSource…) and loads Node's internal undici: about 10 MB of resident memory for code
// regcred never calls. require() leaves the getters alone.
export const http = createRequire(import.meta.url)('node:http') as typeof import('node:http');
