#!/usr/bin/env node
// The `doorbell` command. The only place that reads process.env, listens, or exits.

import { readFileSync } from 'node:fs';
import { Command, CommanderError, Option } from 'commander';
import { importOpenApiCommand, publishCommand, verifyCommand } from './client-commands.ts';
import { UsageError } from './flags.ts';
import { serveCommand } from './serve-command.ts';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

const HELP_POINTER = "(run 'doorbell --help' or 'doorbell <command> --help' for options and examples)";
// A usage error exits 2, as shells and most commands do, so that a script tells it from a failure
// (`doorbell verify` exits 1 for a signature that does not verify).
const USAGE_EXIT = 2;

const program = new Command('doorbell')
  .description('Durable, signed, Svix-compatible webhooks. Self-hosted.')
  .version(version)
  .showHelpAfterError(HELP_POINTER)
  .configureOutput({ outputError: (text, write) => write(withVariable(text)) })
  .exitOverride() // commander's own usage errors (an unknown option…) throw, to exit USAGE_EXIT below
  .hook('preAction', (_, command) => {
    // A required value given empty (`--token "$UNSET"`) is as good as absent.
    for (const option of command.options) {
      if (option.mandatory && command.getOptionValue(option.attributeName()) === '')
        throw new UsageError(`${option.long} must not be empty`);
    }
  })
  .addHelpText(
    'after',
    `
Examples:
  $ doorbell serve                                   start on ./.doorbell/doorbell.db, port 8071
  $ doorbell serve --database /var/lib/doorbell/doorbell.db --port 8080 --host 0.0.0.0
  $ doorbell publish --app demo --type invoice.paid --payload '{"id":"inv_1"}'
  $ doorbell publish --app demo --type load.test --count 1000 > ids.txt
  $ doorbell verify --secret whsec_... --id msg_... --timestamp 1700000000 --signature 'v1,...' --body-file body.json`,
  );

const env = (flag: string, name: string, description: string) => new Option(flag, description).env(name);

program
  .command('serve')
  .description('run the API and the delivery worker')
  .addOption(env('--port <port>', 'DOORBELL_PORT', 'port to listen on (default 8071)'))
  .addOption(env('--host <host>', 'DOORBELL_HOST', 'address to listen on (default 127.0.0.1)'))
  .addOption(
    env(
      '--database <path>',
      'DOORBELL_DATABASE',
      'SQLite file path (default .doorbell/doorbell.db) or a postgres:// URL',
    ),
  )
  .addOption(
    env(
      '--allow-subnets <cidrs>',
      'DOORBELL_ALLOW_SUBNETS',
      'comma-separated CIDRs that deliveries may reach despite the SSRF rules (e.g. 127.0.0.0/8)',
    ),
  )
  .addOption(
    env(
      '--retry-schedule <delays>',
      'DOORBELL_RETRY_SCHEDULE',
      'delay before each attempt, comma-separated, starting with 0 (default 0,5s,5m,30m,2h,5h,10h,10h)',
    ),
  )
  .addOption(
    env(
      '--attempt-timeout <duration>',
      'DOORBELL_ATTEMPT_TIMEOUT',
      'total deadline of one attempt (default 15s)',
    ),
  )
  .addOption(
    env(
      '--concurrency <n>',
      'DOORBELL_CONCURRENCY',
      'attempts in flight in this process (default 512; at most 128 per endpoint)',
    ),
  )
  .addOption(
    env(
      '--pool-size <n>',
      'DOORBELL_POOL_SIZE',
      'PostgreSQL connections per process (default 10; the LISTEN connection aside)',
    ),
  )
  .addOption(
    env(
      '--retention <duration>',
      'DOORBELL_RETENTION',
      'how long payloads are kept; older messages are deleted with their attempts (default 90d)',
    ),
  )
  .addOption(
    env(
      '--auto-disable-after <duration>',
      'DOORBELL_AUTO_DISABLE_AFTER',
      'how long an endpoint fails continuously before it is disabled; 0: never (default 5d)',
    ),
  )
  .addOption(
    env(
      '--public-url <url>',
      'DOORBELL_PUBLIC_URL',
      "base URL of app-portal links (default: the request's own host)",
    ),
  )
  .addOption(
    env(
      '--role <role>',
      'DOORBELL_ROLE',
      'api, worker or all (default all): scale API and delivery separately',
    ),
  )
  .addOption(
    env(
      '--drain-timeout <duration>',
      'DOORBELL_DRAIN_TIMEOUT',
      'how long SIGTERM or Ctrl-C waits for attempts in flight before exiting 1 (default 25s)',
    ),
  )
  .addOption(
    new Option(
      '--demo',
      'first-run demo: loopback delivery allowed, a demo endpoint and receiver (env: DOORBELL_DEMO=1)',
    ),
  )
  .addHelpText(
    'after',
    `
The admin token is read from DOORBELL_ADMIN_TOKEN, or generated on first start and printed once.

Examples:
  $ doorbell serve --demo     # try it: a local receiver, and a command that publishes to it
  $ DOORBELL_ADMIN_TOKEN="$(cat /etc/doorbell/admin-token)" doorbell serve --database /var/lib/doorbell/doorbell.db --host 0.0.0.0
  $ doorbell serve --role worker --database postgres://doorbell@db.internal/doorbell     # delivery only`,
  )
  .action(serveCommand);

program
  .command('publish')
  .description('publish an event through the API; prints message ids on stdout, progress on stderr')
  .addOption(env('--url <url>', 'DOORBELL_URL', 'API base URL').default('http://127.0.0.1:8071'))
  .addOption(env('--token <token>', 'DOORBELL_ADMIN_TOKEN', 'API token').makeOptionMandatory())
  .requiredOption('--app <id>', 'application id or uid')
  .requiredOption('--type <eventType>', 'event type')
  .addOption(new Option('--payload <json>', 'JSON payload').default('{}').conflicts('payloadFile'))
  .option(
    '--payload-file <path>',
    "read the JSON payload from a UTF-8 file, a leading BOM dropped ('-': standard input)",
  )
  .option('--channels <list>', 'comma-separated channels')
  .option('--count <n>', 'publish this many copies', '1')
  .addHelpText(
    'after',
    `
Examples:
  $ export DOORBELL_ADMIN_TOKEN=dbk_...
  $ doorbell publish --app demo --type invoice.paid --payload '{"id":"inv_1","amount":4200}'
  $ doorbell publish --url https://doorbell.example.com --app my-app --type invoice.paid --payload-file invoice.json
  $ doorbell publish --app demo --type load.test --count 1000 > ids.txt     # one message id per line
  $ jq -c . event.json | doorbell publish --app my-app --type invoice.paid --payload-file -`,
  )
  .action(publishCommand);

program
  .command('import-openapi')
  .description("create or update event types from an OpenAPI document's webhooks; prints their names")
  .argument('<file>', "the document, YAML or JSON ('-': standard input)")
  .addOption(env('--url <url>', 'DOORBELL_URL', 'API base URL').default('http://127.0.0.1:8071'))
  .addOption(env('--token <token>', 'DOORBELL_ADMIN_TOKEN', 'API token').makeOptionMandatory())
  .option('--replace-all', 'archive every event type the document does not describe')
  .option('--dry-run', 'print what would change, and change nothing')
  .addHelpText(
    'after',
    `
Each webhook (OpenAPI 3.1 \`webhooks\`, or \`x-webhooks\`) becomes the event type of its name, described by
its POST operation, with its JSON request body's schema.

Examples:
  $ export DOORBELL_ADMIN_TOKEN=dbk_...
  $ doorbell import-openapi openapi.yaml
  $ doorbell import-openapi --dry-run --replace-all openapi.json
  $ curl -s https://api.example.com/openapi.json | doorbell import-openapi -`,
  )
  .action(importOpenApiCommand);

program
  .command('verify')
  .description('check a Standard Webhooks / Svix signature, as a receiver would')
  .addOption(
    env('--secret <secret>', 'DOORBELL_WEBHOOK_SECRET', 'endpoint secret (whsec_...)').makeOptionMandatory(),
  )
  .option('--id <id>', 'webhook-id header')
  .option('--timestamp <seconds>', 'webhook-timestamp header')
  .option('--signature <list>', 'webhook-signature header')
  .option(
    '--headers-file <path>',
    "the webhook request's headers as captured ('name: value' lines, as a receiver or proxy logs them), instead of the three above",
  )
  .addOption(new Option('--body <text>', 'raw request body').conflicts('bodyFile'))
  .option('--body-file <path>', 'read the raw body from a file (default: stdin)')
  .option('--tolerance <seconds>', 'accepted clock difference', '300')
  .addHelpText(
    'after',
    `
Prints 'valid' (exit 0) or 'invalid: <reason>' (exit 1) on stdout; a usage error exits 2.

Examples:
  $ doorbell verify --secret whsec_... --id msg_... --timestamp 1700000000 --signature 'v1,...' --body-file body.json
  $ export DOORBELL_WEBHOOK_SECRET=whsec_...
  $ doorbell verify --id msg_... --timestamp 1700000000 --signature 'v1,...' < body.json
  $ doorbell verify --headers-file headers.txt --body-file body.json     # webhook-* or svix-* headers`,
  )
  .action(verifyCommand);

/** Commander's "required option '--token <token>' not specified": the variable that can give it too. */
function withVariable(text: string): string {
  const long = /required option '(--[\w-]+)/.exec(text)?.[1];
  const option = program.commands.flatMap((command) => command.options).find((o) => o.long === long);
  return option?.envVar ? text.replace(' not specified', ` not specified (nor ${option.envVar})`) : text;
}

/** A usage error names its flag first; when the value came from the flag's variable, say which. */
function withSource(message: string): string {
  for (const command of program.commands) {
    for (const option of command.options) {
      const { long, envVar } = option;
      if (!long || !envVar || !message.startsWith(long) || !/^[\s:]/.test(message.slice(long.length)))
        continue;
      if (command.getOptionValueSource(option.attributeName()) === 'env')
        return `${long} (from ${envVar})${message.slice(long.length)}`;
    }
  }
  return message;
}

// An empty variable counts as unset (`DOORBELL_URL=`, from a deployment file that passes one on unset):
// the flag's default or requirement applies, as when it is absent.
for (const command of program.commands) {
  for (const { envVar } of command.options)
    if (envVar && process.env[envVar] === '') delete process.env[envVar];
}

program.parseAsync().catch((error: unknown) => {
  // Commander has printed its message (or the help, or the version, which exit 0).
  if (error instanceof CommanderError) process.exit(error.exitCode === 0 ? 0 : USAGE_EXIT);
  const message = error instanceof Error ? error.message : String(error);
  console.error(`doorbell: ${error instanceof UsageError ? withSource(message) : message}`);
  if (error instanceof UsageError) console.error(HELP_POINTER);
  process.exit(error instanceof UsageError ? USAGE_EXIT : 1);
});
