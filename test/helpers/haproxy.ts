import net from 'node:net';
import { services } from './services.js';
import { SmtpTestClient } from './smtp-client.js';

// The HAProxy of scripts/services.sh (scripts/templates/haproxy.cfg), as the tests see it.

/** One command on HAProxy's admin socket; the answer is everything until it closes. */
function haproxyCommand(command: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let answer = '';
    const socket = net.connect(services.haproxySocket, () => socket.end(`${command}\n`));
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => (answer += chunk));
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
  });
}

/** UP, DOWN, ... of each backend server, from "show stat" (CSV; field 17 is the status). */
async function serverStates(): Promise<Record<string, string>> {
  const states: Record<string, string> = {};
  for (const line of (await haproxyCommand('show stat')).split('\n')) {
    const fields = line.split(',');
    if (fields[0] === 'smtp-scan-proxy' && fields[1]?.startsWith('proxy')) states[fields[1]] = fields[17]!;
  }
  return states;
}

export async function until(what: string, condition: () => Promise<boolean>, timeout = 20_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Both instances pass HAProxy's SMTP check, and a client through HAProxy gets a banner. */
export async function waitForBackends(): Promise<void> {
  await until('both backends UP in HAProxy', async () => {
    const states = await serverStates();
    return states.proxy1 === 'UP' && states.proxy2 === 'UP';
  });
  await until('a 220 banner through HAProxy', async () => {
    const client = await SmtpTestClient.connect(services.haproxyPort, '127.0.0.9').catch(() => undefined);
    const banner = await client?.read(3000).catch(() => undefined);
    await client?.quit();
    return banner?.code === 220;
  });
}
