import { createRequire } from 'node:module';

// @bufbuild/cel (and the protobuf runtime under it) takes a few hundred milliseconds to load, on every
// `meshd serve` and `meshd validate` — yet only documents with CEL rules (the CRD-derived kinds) or CEL
// expressions (Telemetry access-log filters) need it. It is loaded on first use instead, synchronously
// (validation is synchronous) through the package's CommonJS build. Every CEL user in meshd goes through
// here, so one copy of the library is loaded and its values (CelInput, errors) are of one kind.

type CelLibrary = typeof import('@bufbuild/cel');
type CelStrings = typeof import('@bufbuild/cel/ext');

const require = createRequire(import.meta.url);
let library: CelLibrary | undefined;
let extensions: CelStrings | undefined;

/** @bufbuild/cel, loaded on the first call. */
export function celLibrary(): CelLibrary {
  return (library ??= require('@bufbuild/cel') as CelLibrary);
}

/** @bufbuild/cel/ext (the strings extension functions), loaded on the first call. */
export function celExtensions(): CelStrings {
  return (extensions ??= require('@bufbuild/cel/ext') as CelStrings);
}
