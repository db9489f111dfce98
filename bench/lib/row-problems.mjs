/** What went wrong in one bench cell (a row of the report), for the notes under its table. */
export function rowProblems(row) {
  const p = [];
  if (row.skipped) p.push(`skipped: ${row.skipped}`);
  if (row.source?.error) p.push(`smtp-source: ${row.source.error} (${row.source.completed}/${row.source.requested} done)`);
  if (row.client?.error) p.push(`Node client: ${row.client.error}`);
  const fails = Object.entries(row.client?.failures ?? {});
  if (fails.length) p.push(`Node client failures: ${fails.map(([k, v]) => `${v}× "${k}"`).join(', ')}`);
  if (row.sinkReceived != null && row.expectedAtSink != null && row.sinkReceived !== row.expectedAtSink) {
    p.push(`the sink received ${row.sinkReceived} messages for ${row.expectedAtSink} 2xx replies`);
  }
  return p;
}
