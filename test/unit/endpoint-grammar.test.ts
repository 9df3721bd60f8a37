import assert from 'node:assert/strict';
import fc from 'fast-check';
import { EndpointSyntaxError } from '../../src/errors.js';
import { parseEndpoint, quoteEndpointArgument, redactEndpoint, type ParsedEndpoint } from '../../src/util/endpoint-grammar.js';

type Expected = { prefix: string; args: string[]; options: Record<string, string> };

// [description, expected]. Strings are written as TypeScript literals: '\\' is one backslash.
const VALID: Array<[string, Expected]> = [
  // Examples from Twisted's serverFromString/clientFromString documentation.
  ['tcp:80', { prefix: 'tcp', args: ['80'], options: {} }],
  ['tcp:80:interface=127.0.0.1', { prefix: 'tcp', args: ['80'], options: { interface: '127.0.0.1' } }],
  [
    'ssl:443:privateKey=key.pem:certKey=crt.pem',
    { prefix: 'ssl', args: ['443'], options: { privateKey: 'key.pem', certKey: 'crt.pem' } },
  ],
  ['unix:/var/run/finger', { prefix: 'unix', args: ['/var/run/finger'], options: {} }],
  [
    'unix:/var/foo/bar:lockfile=1:mode=0660',
    { prefix: 'unix', args: ['/var/foo/bar'], options: { lockfile: '1', mode: '0660' } },
  ],
  ['tcp:www.example.com:80', { prefix: 'tcp', args: ['www.example.com', '80'], options: {} }],
  [
    'tcp:host=www.example.com:port=80',
    { prefix: 'tcp', args: [], options: { host: 'www.example.com', port: '80' } },
  ],
  [
    'unix:path=/var/foo/bar:lockfile=1:timeout=9',
    { prefix: 'unix', args: [], options: { path: '/var/foo/bar', lockfile: '1', timeout: '9' } },
  ],
  [
    'tls:example.com:443:trustRoots=/etc/ssl/certs',
    { prefix: 'tls', args: ['example.com', '443'], options: { trustRoots: '/etc/ssl/certs' } },
  ],
  // The tokenizer's own documented example: an escaped "=" belongs to the key.
  ['hello:greet\\=ing=world', { prefix: 'hello', args: [], options: { 'greet=ing': 'world' } }],
  // After the first "=" only ":" separates: values may hold "=".
  ['x:k=a=b=c', { prefix: 'x', args: [], options: { k: 'a=b=c' } }],
  ['x:privateKey=ED25519-V3\\:abc+/==', { prefix: 'x', args: [], options: { privateKey: 'ED25519-V3:abc+/==' } }],
  ['x:k=', { prefix: 'x', args: [], options: { k: '' } }],
  // Escapes.
  ['tor:\\:\\:1:80', { prefix: 'tor', args: ['::1', '80'], options: {} }],
  ['x:a\\\\b', { prefix: 'x', args: ['a\\b'], options: {} }],
  ['x:\\:', { prefix: 'x', args: [':'], options: {} }],
  ['x:\\=', { prefix: 'x', args: ['='], options: {} }],
  ['x:\\a\\b', { prefix: 'x', args: ['ab'], options: {} }],
  ['x:k=v\\:w', { prefix: 'x', args: [], options: { k: 'v:w' } }],
  ['x\\:y:1', { prefix: 'x:y', args: ['1'], options: {} }],
  ['x:\\🙂', { prefix: 'x', args: ['🙂'], options: {} }],
  [
    'onion:80:control=tcp\\:127.0.0.1\\:9051',
    { prefix: 'onion', args: ['80'], options: { control: 'tcp:127.0.0.1:9051' } },
  ],
  // Empty positional arguments are kept: plugins decide whether they are allowed.
  ['x:', { prefix: 'x', args: [''], options: {} }],
  ['x::b', { prefix: 'x', args: ['', 'b'], options: {} }],
  ['x', { prefix: 'x', args: [], options: {} }],
  // Positional and keyword arguments may interleave; positional order is kept.
  ['x:a:k=1:b', { prefix: 'x', args: ['a', 'b'], options: { k: '1' } }],
  // The prefix matches case-insensitively; keyword case is kept.
  ['TCP:80', { prefix: 'tcp', args: ['80'], options: {} }],
  ['OnIoN:80:localPort=8080', { prefix: 'onion', args: ['80'], options: { localPort: '8080' } }],
  // The grammar itself accepts any character; plugins reject CR/LF/NUL.
  ['x:a\r\nb:k=\0', { prefix: 'x', args: ['a\r\nb'], options: { k: '\0' } }],
  // A keyword named like an Object.prototype member is plain data.
  ['x:__proto__=1:constructor=2', { prefix: 'x', args: [], options: { ['__proto__']: '1', constructor: '2' } }],
];

// [description, index of the offending character, a word the message must contain]
const INVALID: Array<[string, number, string]> = [
  ['', 0, 'empty'],
  ['tcp:80\\', 6, 'backslash'],
  ['\\', 0, 'backslash'],
  ['x:k=v\\', 5, 'backslash'],
  ['x:a\\\\\\', 5, 'backslash'],
  [':80', 0, 'empty endpoint type'],
  ['=x:80', 0, '='],
  ['tc=p:80', 2, '='],
  ['x:=v', 2, 'empty keyword'],
  ['x:k=1:k=2', 6, 'more than once'],
  ['x:k\\=a=1:k\\=a=2', 9, 'more than once'],
];

describe('endpoint grammar: parseEndpoint', () => {
  for (const [description, expected] of VALID) {
    it(`parses ${JSON.stringify(description)}`, () => {
      const got = parseEndpoint(description);
      assert.equal(got.prefix, expected.prefix);
      assert.deepEqual([...got.args], expected.args);
      assert.deepEqual({ ...got.options }, expected.options);
      assert.deepEqual(Object.keys(got.options).sort(), Object.keys(expected.options).sort());
    });
  }

  it('keeps a keyword named __proto__ as an own property without touching the prototype', () => {
    const got = parseEndpoint('x:__proto__=evil');
    assert.equal(Object.getPrototypeOf(got.options), Object.prototype);
    assert.ok(Object.prototype.hasOwnProperty.call(got.options, '__proto__'));
    assert.equal(Object.getOwnPropertyDescriptor(got.options, '__proto__')?.value, 'evil');
  });

  for (const [description, index, word] of INVALID) {
    it(`rejects ${JSON.stringify(description)} at index ${index}`, () => {
      assert.throws(
        () => parseEndpoint(description),
        (err: unknown) => {
          assert.ok(err instanceof EndpointSyntaxError, `got ${String(err)}`);
          assert.equal(err.code, 'TOR_ENDPOINT_SYNTAX');
          assert.equal(err.index, index);
          assert.ok(err.message.includes(word), err.message);
          return true;
        },
      );
    });
  }

  it('rejects a non-string description with EndpointSyntaxError', () => {
    assert.throws(() => parseEndpoint(42 as unknown as string), EndpointSyntaxError);
  });
});

describe('endpoint grammar: quoteEndpointArgument', () => {
  const CASES: Array<[string, string]> = [
    ['plain', 'plain'],
    ['a:b', 'a\\:b'],
    ['a=b', 'a\\=b'],
    ['a\\b', 'a\\\\b'],
    ['tor:example.com:443', 'tor\\:example.com\\:443'],
    ['', ''],
  ];
  for (const [input, quoted] of CASES) {
    it(`quotes ${JSON.stringify(input)} as ${JSON.stringify(quoted)}`, () => {
      assert.equal(quoteEndpointArgument(input), quoted);
    });
  }
});

/** Strings dense in the grammar's special characters, plus arbitrary code points. */
const grammarString = fc.oneof(
  fc.string({ unit: fc.constantFrom(':', '=', '\\', 'a', 'B', '0', ' ', 'é', '🙂', '\r', '\0'), maxLength: 40 }),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

/** Writes a parsed endpoint back as a description (the canonical form). */
function serialize(p: ParsedEndpoint): string {
  const parts = [quoteEndpointArgument(p.prefix), ...p.args.map(quoteEndpointArgument)];
  for (const [k, v] of Object.entries(p.options)) parts.push(`${quoteEndpointArgument(k)}=${quoteEndpointArgument(v)}`);
  return parts.join(':');
}

describe('endpoint grammar: properties', () => {
  it('round-trips every string through quoteEndpointArgument as a positional argument', () => {
    fc.assert(
      fc.property(grammarString, (v) => {
        const parsed = parseEndpoint(`x:${quoteEndpointArgument(v)}`);
        assert.deepEqual([...parsed.args], [v]);
        assert.deepEqual({ ...parsed.options }, {});
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips every key and value through quoteEndpointArgument', () => {
    fc.assert(
      fc.property(
        grammarString.filter((k) => k.length > 0),
        grammarString,
        (k, v) => {
          const parsed = parseEndpoint(`x:${quoteEndpointArgument(k)}=${quoteEndpointArgument(v)}`);
          assert.deepEqual([...parsed.args], []);
          assert.deepEqual(Object.entries(parsed.options), [[k, v]]);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('only ever throws EndpointSyntaxError, with an index inside the string', () => {
    fc.assert(
      fc.property(grammarString, (s) => {
        try {
          parseEndpoint(s);
        } catch (err) {
          assert.ok(err instanceof EndpointSyntaxError, `unexpected ${String(err)} for ${JSON.stringify(s)}`);
          assert.ok(err.index >= 0 && err.index <= s.length, `index ${err.index} outside ${JSON.stringify(s)}`);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('re-parses its canonical serialization to the same result', () => {
    fc.assert(
      fc.property(grammarString, (s) => {
        let parsed: ParsedEndpoint;
        try {
          parsed = parseEndpoint(s);
        } catch {
          return; // invalid strings are covered above
        }
        const again = parseEndpoint(serialize(parsed));
        assert.equal(again.prefix, parsed.prefix.toLowerCase());
        assert.deepEqual([...again.args], [...parsed.args]);
        assert.deepEqual({ ...again.options }, { ...parsed.options });
      }),
      { numRuns: 2000 },
    );
  });

  it('returns a lower-case prefix for any case of the input', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[A-Za-z][A-Za-z0-9]{0,10}$/), (prefix) => {
        assert.equal(parseEndpoint(`${prefix}:1`).prefix, prefix.toLowerCase());
      }),
      { numRuns: 500 },
    );
  });
});

describe('endpoint grammar: redactEndpoint (what the CLI prints)', () => {
  it('hides the values of privateKey, password, username and isolate, escaped colons included', () => {
    const key = `ED25519-V3${quoteEndpointArgument(':')}${Buffer.alloc(64, 3).toString('base64')}`;
    assert.equal(redactEndpoint(`onion:80:privateKey=${key}:maxStreams=3`), 'onion:80:privateKey=[redacted]:maxStreams=3');
    assert.equal(
      redactEndpoint('tor:example.com:80:isolate=tok:username=u:password=p\\:q:timeout=5'),
      'tor:example.com:80:isolate=[redacted]:username=[redacted]:password=[redacted]:timeout=5',
    );
    assert.equal(redactEndpoint('onion:80:localPort=8080'), 'onion:80:localPort=8080');
  });

  it('hides them however the keyword is escaped or cased, and inside an endpoint given as a value (security review)', () => {
    // The parser reads priv\ateKey as privateKey: the redaction must too.
    assert.equal(parseEndpoint('onion:80:priv\\ateKey=K').options['privateKey'], 'K');
    assert.equal(redactEndpoint('onion:8080:priv\\ateKey=ED25519-V3\\:PLANTED:awaitUpload=false'), 'onion:8080:priv\\ateKey=[redacted]:awaitUpload=false');
    assert.equal(redactEndpoint('tor:h:1:PASSWORD=PLANTED'), 'tor:h:1:PASSWORD=[redacted]');
    const nested = 'tls:127.0.0.1:443:endpoint=tor\\:127.0.0.1\\:443\\:isolate\\=PLANTED';
    const shown = redactEndpoint(nested);
    assert.ok(!shown.includes('PLANTED'), shown);
    assert.equal(parseEndpoint(parseEndpoint(shown).options['endpoint']!).options['isolate'], '[redacted]');
    // A control endpoint with a password= (which it does not take) is refused without showing it.
    assert.equal(redactEndpoint('tcp:127.0.0.1:9:password=PLANTED'), 'tcp:127.0.0.1:9:password=[redacted]');
    // What the grammar refuses is redacted segment by segment all the same.
    assert.equal(redactEndpoint('tor:h:1:isolate=PLANTED:tls=true\\'), 'tor:h:1:isolate=[redacted]:tls=true\\');
  });

  it('property: a secret keyword, escaped anywhere, never lets its value through', () => {
    fc.assert(
      fc.property(fc.constantFrom('privateKey', 'password', 'username', 'isolate'), fc.array(fc.boolean(), { minLength: 12, maxLength: 12 }), fc.string({ minLength: 1 }), (key, escapes, secret) => {
        const escapedKey = [...key].map((c, i) => (escapes[i] ? `\\${c}` : c)).join('');
        const description = `tor:example.com:80:${escapedKey}=${quoteEndpointArgument(secret)}`;
        assert.equal(parseEndpoint(description).options[key], secret);
        assert.equal(parseEndpoint(redactEndpoint(description)).options[key], '[redacted]');
      }),
    );
  });

  it('property: no secret value survives, and the rest parses the same', () => {
    fc.assert(
      fc.property(fc.string({ minLength: 1 }), (secret) => {
        const description = `onion:80:privateKey=${quoteEndpointArgument(secret)}:localPort=8080`;
        const shown = redactEndpoint(description);
        const parsed = parseEndpoint(shown);
        assert.equal(parsed.options['privateKey'], '[redacted]');
        assert.equal(parsed.options['localPort'], '8080');
      }),
    );
  });
});
