#!/usr/bin/env node
// The server process: read settings, start, and stop gracefully on signals.
import module from 'node:module';
import os from 'node:os';

// Node's module compile cache keeps the compiled (and type-stripped) code of
// our modules and dependencies on disk, so every start after the first skips
// most of the parsing: it must be on before anything else is imported, hence
// the dynamic imports below. NODE_COMPILE_CACHE=<dir> chooses the directory
// (default: the OS temp dir), NODE_DISABLE_COMPILE_CACHE=1 turns it off.
module.enableCompileCache?.();
// Traces, when the OTEL_* environment asks for them (see tracing.ts), start
// before the app is imported: the instrumentations' loader hook must see
// @grpc/grpc-js, node:http and pg load. Otherwise no OpenTelemetry module loads.
const { tracingRequested } = await import('./observability/tracing.ts');
const command = process.argv[2];
const tracing =
  command !== 'migrate' && command !== 'admin' && tracingRequested(process.env)
    ? (await import('./observability/tracing-sdk.ts')).startTracing(process.env)
    : undefined;
const { startAirlock } = await import('./app.ts');
const { ConfigError, helpText, loadSettings } = await import('./config/load.ts');
const { asyncStdout, createLogger } = await import('./observability/logger.ts');

async function main(): Promise<number> {
  if (process.argv[2] === 'migrate') {
    const { runMigrateCommand } = await import('./storage/migrate-command.ts');
    return runMigrateCommand(process.argv.slice(3), process.env, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  }
  if (process.argv[2] === 'admin') {
    const { runAdminCommand } = await import('./admin/command.ts');
    return runAdminCommand(process.argv.slice(3), process.env, {
      out: (line) => process.stdout.write(`${line}\n`),
      err: (line) => process.stderr.write(`${line}\n`),
    });
  }
  let loaded: ReturnType<typeof loadSettings>;
  try {
    loaded = loadSettings(process.argv.slice(2), process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`airlock: ${error.message}\n`);
      return 2;
    }
    throw error;
  }
  if (loaded.help) {
    process.stdout.write(`${helpText()}\n`);
    return 0;
  }
  const { settings } = loaded;
  // JSON lines go out asynchronously: a blocking write per line cost more than a Health/Check call.
  const json = settings.logFormat === 'json' || (settings.logFormat === 'auto' && !process.stdout.isTTY);
  const logger = createLogger(settings, json ? asyncStdout(settings.logBufferBytes) : undefined);

  let running: Awaited<ReturnType<typeof startAirlock>>;
  let started = false;
  // SIGHUP re-reads the channel catalog and the TLS certificate; a bad file keeps the one in force (the error is logged).
  // Handled from the start, so one that arrives while starting does not end the process.
  process.on('SIGHUP', () => {
    if (!started) {
      logger.warn('SIGHUP while starting: the catalog and certificate being loaded are the ones read at start');
      return;
    }
    running
      .reloadCatalog()
      .catch((error: unknown) => logger.error({ err: error }, 'channel catalog not reloaded; the previous one stays in force'));
    // Never rejects: a pair that does not load is logged inside.
    void running.reloadTls();
  });
  // SIGINT/SIGTERM are handled from the start too: with no listener, the OS default would end the
  // process at once, even in the instant between "airlock is serving" and the drain handler below.
  // While starting, a stop signal still ends the process at once, with the shell's 128 + signal code.
  let stop: ((signal: NodeJS.Signals) => void) | undefined;
  const onStopSignal = (signal: NodeJS.Signals) => {
    if (stop) stop(signal);
    else process.exit(128 + (os.constants.signals[signal] ?? 0));
  };
  process.on('SIGINT', onStopSignal);
  process.on('SIGTERM', onStopSignal);
  try {
    running = await startAirlock(settings, logger);
    started = true;
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`airlock: ${error.message}\n`);
      logger.flush?.();
      return 2;
    }
    throw error;
  }

  return new Promise<number>((resolve) => {
    let stopping = false;
    stop = (signal: NodeJS.Signals) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal, graceMs: settings.shutdownGrace }, 'shutting down');
      // A stuck cleanup must not keep the process alive past the grace period.
      const hardStop = setTimeout(() => resolve(1), settings.shutdownGrace + 5_000);
      hardStop.unref();
      running.stop().then(
        () => {
          logger.info('stopped');
          resolve(0);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'error during shutdown');
          resolve(1);
        },
      );
    };
  });
}

main().then(
  async (code) => {
    // The spans still batched go out before the process ends (bounded by the exporter's own timeout).
    await tracing?.shutdown().catch(() => {});
    process.exit(code);
  },
  (error: unknown) => {
    process.stderr.write(`airlock: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
