// The public page for patients of one practice (`/status/<ods>`): in plain English, whether
// the practice is working normally, having problems, or working from its backup plan, and
// what to do. The advice depends on what is healthy: when NHS 111 is itself down it never
// sends patients there. No patient or staff data; wording from ICB-owned templates.
import { html, raw } from 'hono/html';
import { z } from 'zod';

/** The wording, owned by the ICB: every field may be overridden in the estate file's `patients.templates`. */
export const patientTemplatesSchema = z
  .object({
    normal: z.string().min(1).max(1_000).default('{practice} is open and working normally.'),
    problems: z
      .string()
      .min(1)
      .max(1_000)
      .default('{practice} is having problems with its computer systems. You may have to wait longer than usual. Please keep your appointment.'),
    backup: z
      .string()
      .min(1)
      .max(1_000)
      .default(
        '{practice} is working from its backup plan because its computer systems are not available. Please keep your appointment unless the practice contacts you. Staff are using paper records, so things may take longer.',
      ),
    prescriptions: z
      .string()
      .min(1)
      .max(1_000)
      .default('For a repeat prescription you need soon, speak to your usual pharmacy: they may be able to help.'),
    urgent: z
      .string()
      .min(1)
      .max(1_000)
      .default('If you need medical help urgently, use NHS 111 online at 111.nhs.uk or call 111.'),
    urgentWithout111: z
      .string()
      .min(1)
      .max(1_000)
      .default('If you need medical help urgently, contact the practice by phone or visit a pharmacy.'),
    emergency: z.string().min(1).max(1_000).default('In an emergency, call 999.'),
  })
  .strict()
  .prefault({});

export type PatientTemplates = z.infer<typeof patientTemplatesSchema>;

export type PracticeSituation = 'normal' | 'problems' | 'backup';

export interface PatientPageInput {
  practiceName: string;
  situation: PracticeSituation;
  /** Whether NHS 111 is working; false or unknown means we do not send people there. */
  nhs111Working: boolean;
  updatedAt: Date;
  templates: PatientTemplates;
}

/** The situation patients are told about: backup mode first, then any status that stops the practice working. */
export function situationOf(mode: 'normal' | 'entering' | 'backup' | 'leaving', status: string): PracticeSituation {
  if (mode !== 'normal') return 'backup';
  return status === 'down' || status === 'degraded' ? 'problems' : 'normal';
}

export function patientAdvice(input: PatientPageInput): { headline: string; advice: string[] } {
  const t = input.templates;
  const fill = (text: string) => text.replaceAll('{practice}', input.practiceName);
  const headline = fill(t[input.situation]);
  const advice: string[] = [];
  if (input.situation === 'backup') advice.push(fill(t.prescriptions));
  advice.push(fill(input.nhs111Working ? t.urgent : t.urgentWithout111));
  advice.push(fill(t.emergency));
  return { headline, advice };
}

/** The whole page. Every value is escaped; the page loads one stylesheet and no script. */
export function renderPatientPage(input: PatientPageInput) {
  const { headline, advice } = patientAdvice(input);
  const time = input.updatedAt.toLocaleString('en-GB', { timeZone: 'Europe/London', dateStyle: 'long', timeStyle: 'short' });
  return html`<!doctype html>
<html lang="en-GB">
  <head>
    <meta charset="utf-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1" />
    <title>${input.practiceName}: service status</title>
    <link rel="stylesheet" href="/status.css" />
  </head>
  <body>
    <header><p class="brand">${input.practiceName}</p></header>
    <main class="situation-${input.situation}" data-situation="${input.situation}">
      <h1>Is the practice working normally?</h1>
      <p class="headline">${headline}</p>
      <ul>
        ${advice.map((line) => html`<li>${line}</li>`)}
      </ul>
      <p class="updated">Last updated ${time}. Reload this page for the latest news.</p>
    </main>
  </body>
</html>`;
}

export const PATIENT_PAGE_CSS = raw(`
body { margin: 0; font-family: Arial, 'Liberation Sans', sans-serif; font-size: 1.1875rem; line-height: 1.5; color: #212b32; background: #f0f4f5; }
header { background: #005eb8; color: #fff; padding: 1rem; }
.brand { margin: 0; font-weight: 700; font-size: 1.25rem; }
main { max-width: 40rem; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.75rem; margin: 0.5rem 0 1rem; }
.headline { font-weight: 700; padding: 1rem; background: #fff; border-left: 8px solid #007f3b; }
.situation-problems .headline { border-left-color: #ffb81c; }
.situation-backup .headline { border-left-color: #d5281b; }
li { margin-bottom: 0.5rem; }
.updated { color: #4c6272; font-size: 1rem; }
`);
