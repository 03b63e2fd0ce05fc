/**
 * `iotfn completion bash|zsh`: a shell completion script, written from what the CLI knows (its commands record
 * and the simulator's and agent's flag records), so a command or a flag added there completes without an edit here.
 *
 *   source <(iotfn completion bash)      # or in ~/.bashrc
 *   source <(iotfn completion zsh)       # zsh runs the same function through bashcompinit
 */
export interface CompletionSpec {
  /** Every command, in the order help lists them. */
  commands: readonly string[];
  /** What completes after a command: its flags (`--name`) and words (`grant`, `knative`). */
  words: Readonly<Record<string, readonly string[]>>;
}

export const shells = ['bash', 'zsh'] as const;
export type Shell = (typeof shells)[number];

/** `{ url: …, 'mqtt-url': … }` (a node:util parseArgs options record) → `--url --mqtt-url`. */
export function flagWords(options: Readonly<Record<string, unknown>>): string[] {
  return Object.keys(options).map((name) => `--${name}`);
}

const quote = (words: readonly string[]) => `'${words.join(' ').replace(/'/g, `'\\''`)}'`;

export function completionScript(shell: Shell, spec: CompletionSpec): string {
  const cases = Object.entries(spec.words)
    .filter(([, words]) => words.length > 0)
    .map(([command, words]) => `    ${command}) words=${quote(words)} ;;`);
  const body = `_iotfn() {
  local cur=\${COMP_WORDS[COMP_CWORD]} words=''
  if [ "$COMP_CWORD" -eq 1 ]; then
    words=${quote(spec.commands)}
  else
    case "\${COMP_WORDS[1]}" in
${cases.join('\n')}
    esac
  fi
  COMPREPLY=($(compgen -W "$words" -- "$cur"))
}
complete -F _iotfn iotfn
`;
  const header = `# iotfn ${shell} completion, written by \`iotfn completion ${shell}\`: load it with source <(iotfn completion ${shell})\n`;
  // zsh completes with bash's function through bashcompinit, which ships with zsh.
  const zshPrelude = 'autoload -U +X compinit && compinit\nautoload -U +X bashcompinit && bashcompinit\n';
  return header + (shell === 'zsh' ? zshPrelude : '') + body;
}
