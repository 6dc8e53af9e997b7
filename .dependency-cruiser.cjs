/**
 * The project's floors, checked on every `npm test` (and so in CI):
 *   wire < format < discovery < payment < extensions < lib < (testkit) < bench, fuzz, test, examples
 * A floor imports only floors below it. No import cycles anywhere (type-only imports
 * count: a cycle of types still ties two files together). Protocol floors (wire,
 * format, discovery, extensions) are sans-IO: no node: module (timers are checked by
 * test/architecture/sans-io.test.ts, which a dependency graph cannot see).
 */
const floor = (name, allowed) => ({
  name: `${name}-floor`,
  comment: `${name}/ imports only ${allowed.length ? allowed.join(', ') : 'itself'} among our folders`,
  severity: 'error',
  from: { path: `^${name}/` },
  to: {
    path: '^(wire|format|discovery|payment|extensions|lib|testkit|bench|fuzz|test|examples|types)/',
    pathNot: `^(${[name, ...allowed, 'types'].join('|')})/`,
  },
});

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'import cycles make files that cannot be read, tested or changed alone',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    floor('wire', []),
    floor('format', ['wire']),
    // Tracker protocol code: wire (bencode) and format (peer addresses), nothing above.
    floor('discovery', ['wire', 'format']),
    floor('payment', ['wire', 'format']),
    floor('extensions', ['wire', 'format', 'payment']),
    floor('lib', ['wire', 'format', 'discovery', 'payment', 'extensions']),
    floor('testkit', ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib']),
    floor('bench', ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib', 'testkit']),
    floor('fuzz', ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib', 'testkit']),
    floor('test', ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib', 'testkit', 'fuzz']),
    floor('examples', ['wire', 'format', 'discovery', 'payment', 'extensions', 'lib']),
    {
      name: 'sans-io-no-node-modules',
      comment: 'protocol code takes bytes, events and now; sockets, files and timers live in lib/',
      severity: 'error',
      from: { path: '^(wire|format|discovery|extensions)/' },
      to: { dependencyTypes: ['core'] },
    },
    {
      name: 'no-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^(dist|node_modules)/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'], extensions: ['.ts', '.js'] },
  },
};
