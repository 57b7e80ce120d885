// The wall's marks for each status and for backup mode: a shape and a word with every
// colour, so no state rests on colour alone (safe for colour-blind viewers). Presentation only.
import type { Mode, StatusLevel } from '../../server/status/types';
import { STATUS_ICON, STATUS_LABEL } from '../lib/view';

export { STATUS_ICON, STATUS_LABEL };

/** Short words for small tiles. */
export const STATUS_SHORT: Record<StatusLevel, string> = {
  down: 'DOWN',
  unknown: 'UNKN',
  suspected: 'SUSP',
  degraded: 'DEGR',
  recovering: 'RECOV',
  maintenance: 'MAINT',
  up: 'UP',
};

/** Anything but normal counts as "in backup" on the wall (entering and leaving included). */
export function inBackup(mode: Mode): boolean {
  return mode !== 'normal';
}

export const BACKUP_LABEL: Record<Exclude<Mode, 'normal'>, string> = {
  entering: 'Entering backup',
  backup: 'Backup mode',
  leaving: 'Leaving backup',
};
