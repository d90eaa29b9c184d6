// Where an object came from, and the one message format every rejection uses:
//   FILE[#doc] Kind namespace/name: field.path: reason

export type Origin =
  | { readonly source: 'file'; readonly file: string; readonly doc: number }
  | { readonly source: 'kube'; readonly cluster: string }
  | { readonly source: 'memory'; readonly label: string };

export interface Problem {
  /** dotted field path, e.g. `spec.http[0].route[1].weight`; '' when the problem is the whole document */
  readonly path: string;
  readonly reason: string;
}

export interface ObjectRef {
  readonly kind?: string;
  readonly namespace?: string;
  readonly name?: string;
}

export function describeOrigin(origin: Origin): string {
  switch (origin.source) {
    case 'file':
      return `${origin.file}#${origin.doc}`;
    case 'kube':
      return `kube(${origin.cluster})`;
    case 'memory':
      return origin.label;
  }
}

export function describeRef(ref: ObjectRef): string {
  const kind = ref.kind || '<unknown kind>';
  const name = ref.name || '<unnamed>';
  return ref.namespace ? `${kind} ${ref.namespace}/${name}` : `${kind} ${name}`;
}

/** `FILE[#doc] Kind namespace/name: field.path: reason` */
export function formatProblem(origin: Origin, ref: ObjectRef, problem: Problem): string {
  const where = problem.path ? `${problem.path}: ` : '';
  return `${describeOrigin(origin)} ${describeRef(ref)}: ${where}${problem.reason}`;
}
