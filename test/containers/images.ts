/**
 * The scanner images: docker-compose.yml runs `compose`, the container suite starts `suite`.
 * test/containers/lint.test.ts checks that docker-compose.yml names the same images.
 */
export const composeImages = {
  /** The official ClamAV image, 1.4 LTS, with its signature database built in. */
  clamav: 'clamav/clamav:1.4',
  /** spamd on 783 (Alpine, SpamAssassin 4); published as "latest" only. */
  spamassassin: 'axllent/spamassassin:latest',
  /** The Rspamd project's image, for the compose profile rspamd (not started by the suite). */
  rspamd: 'rspamd/rspamd:3.8',
} as const;

/**
 * The suite's clamd is the same release without the built-in database (the `_base` tag): it
 * loads only the EICAR test signatures of scripts/ (clamd-test-db.ts), so a hit reads
 * `Eicar-Test-Signature.UNOFFICIAL` exactly as with the native clamd. The official database
 * names EICAR `Win.Test.EICAR_HDB-1`, which the shared scenarios do not expect, and takes a
 * minute and over a gigabyte of memory to load. SSP_CONTAINERS_CLAMAV_IMAGE and
 * SSP_CONTAINERS_SPAMD_IMAGE pick other images (a mirror, a pinned digest).
 */
export const suiteImages = {
  clamav: process.env.SSP_CONTAINERS_CLAMAV_IMAGE || `${composeImages.clamav}_base`,
  spamassassin: process.env.SSP_CONTAINERS_SPAMD_IMAGE || composeImages.spamassassin,
};
