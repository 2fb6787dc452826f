// Shell completion, generated from the command tree itself so it never drifts from the commands: for each
// command path, the words that may follow (subcommands and flags).

import type { Command } from 'commander';
import { examples } from './help.ts';
import { usage } from './output.ts';

export function registerCompletionCommand(program: Command): void {
  const command = program
    .command('completion')
    .description('Print a completion script for bash or zsh.')
    .argument('<shell>', 'bash or zsh')
    .action((shell: string) => {
      if (shell !== 'bash' && shell !== 'zsh') throw usage(`no completion for "${shell}": use bash or zsh`);
      process.stdout.write(shell === 'bash' ? bashScript(completionTable(program)) : zshScript(completionTable(program)));
    });
  examples(command, 'source <(synodctl completion bash)            # in ~/.bashrc', 'source <(synodctl completion zsh)             # in ~/.zshrc, after compinit', 'synodctl completion zsh > "${fpath[1]}/_synodctl"');
}

/** Command path (`synodctl lock`) -> the words that may follow it. */
export function completionTable(program: Command): Map<string, string[]> {
  const table = new Map<string, string[]>();
  const globals = flagsOf(program);
  const visit = (command: Command, path: string): void => {
    const subcommands = command.commands.filter((c) => c.name() !== 'help');
    const words = [...subcommands.flatMap((c) => [c.name(), ...c.aliases()]), ...flagsOf(command), ...(command === program ? [] : globals), '--help'];
    table.set(path, [...new Set(words)]);
    for (const sub of subcommands) {
      visit(sub, `${path} ${sub.name()}`);
      for (const alias of sub.aliases()) visit(sub, `${path} ${alias}`);
    }
  };
  visit(program, program.name());
  return table;
}

function flagsOf(command: Command): string[] {
  return command.options.flatMap((option) => [option.long, option.short].filter((flag): flag is string => flag !== undefined));
}

function bashScript(table: Map<string, string[]>): string {
  const cases = [...table].map(([path, words]) => `    "${path}") echo "${words.join(' ')}" ;;`).join('\n');
  return `# synodctl completion for bash. Load it with: source <(synodctl completion bash)
_synodctl_words() {
  case "$1" in
${cases}
    *) return 1 ;;
  esac
}
_synodctl() {
  local cur="\${COMP_WORDS[COMP_CWORD]}" cmdpath="synodctl" word i
  for ((i = 1; i < COMP_CWORD; i++)); do
    word="\${COMP_WORDS[i]}"
    [[ "$word" == -* ]] && continue
    if _synodctl_words "$cmdpath $word" >/dev/null; then cmdpath="$cmdpath $word"; fi
  done
  COMPREPLY=($(compgen -W "$(_synodctl_words "$cmdpath")" -- "$cur"))
}
complete -o default -F _synodctl synodctl
`;
}

function zshScript(table: Map<string, string[]>): string {
  const entries = [...table].map(([path, words]) => `  '${path}' '${words.join(' ')}'`).join('\n');
  return `#compdef synodctl
# synodctl completion for zsh. Load it with: source <(synodctl completion zsh)  (after compinit)
typeset -gA _synodctl_table
_synodctl_table=(
${entries}
)
_synodctl() {
  local cmdpath="synodctl" word i
  for ((i = 2; i < CURRENT; i++)); do
    word=\${words[i]}
    [[ $word == -* ]] && continue
    (( \${+_synodctl_table[$cmdpath $word]} )) && cmdpath="$cmdpath $word"
  done
  compadd -- \${=_synodctl_table[$cmdpath]}
}
if [[ "\${funcstack[1]}" == "_synodctl" ]]; then
  _synodctl "$@"
else
  compdef _synodctl synodctl
fi
`;
}
