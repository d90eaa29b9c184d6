// The JWKS inlined when a jwtRule's keys could not be fetched (istiod's PublicOnlyJwks): an RSA public key
// whose private key was discarded when meshd's authors generated it (Node crypto.generateKeyPairSync, never
// written anywhere), so no token can verify against it. Envoy needs *some* valid JWKS to load the filter;
// this one makes every token of the provider fail (401) instead of the provider being skipped (which
// would let requests through unauthenticated) or the whole listener being NACKed.

export const PUBLIC_ONLY_JWKS = JSON.stringify({
  keys: [
    {
      kty: 'RSA',
      e: 'AQAB',
      n: '6Tz89mEnCwGSTtHAJbhqp8zUTeDWnQFwlgJ3QpaPALjpM1KiXj94-c0igpq7EJEgamgZLM3h7ucPrVOUka3dpWoSGJSz8eO_HTVpXVIyIW7DT3762LTsGQYajHmgA8vJhHRj2KHU2lObPA0vcYZklG-WycDutIemJYOWtWovgXn3GEpVJ_81dUa9L5n-cCD9qfSRS5Gypn3vFu2UsDtT4RZYaCUT6qW1-guZjyjJfi6LIl6eL83GUfZcNrXSjotmeH8mhSALZU8c2nFZhig7jf9CpLbapp87xtpuk7Vq9ifbmoBHqwBYDWULxOFL-RlgZ_gcWB-BAP9mhP2fT9sqVQ',
    },
  ],
});
