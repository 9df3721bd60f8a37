import { installListenHook } from './register-hook.js';

/**
 * `torcon/register`: import it before an application to make `server.listen("onion:80")` work
 * without changing the application:
 *
 *     PORT=onion:80 node --import torcon/register app.js
 *
 * Importing this module installs the hook (see register-hook.ts for what it does); it prints nothing.
 */
installListenHook();

export { installListenHook, removeListenHook, isEndpointListenArgument, endpointListenDescription } from './register-hook.js';
