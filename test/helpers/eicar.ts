/**
 * The 68-byte EICAR antivirus test file, built from hex so that no scanner on a developer's
 * machine flags this repository's sources.
 */
export const EICAR = Buffer.from(
  '58354f2150254041505b345c505a58353428505e2937434329377d2445494341522d5354414e444152442d414e544956495255532d544553542d46494c452124482b482a',
  'hex',
).toString('latin1');
