export { connect } from './connect.js';
export { listen } from './listen.js';
export { registerPlugin, getDefaultRegistry } from './default-registry.js';
export type { EndpointCallOptions } from './endpoint-options.js';
export { parseEndpoint, quoteEndpointArgument } from '../util/endpoint-grammar.js';
export type { ParsedEndpoint } from '../util/endpoint-grammar.js';
export type { ListeningEndpoint } from '../util/listening-endpoint.js';
