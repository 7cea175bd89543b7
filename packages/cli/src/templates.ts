import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's templates/ (dist/templates.js → ../../../templates), or $TARS_TEMPLATES. */
export function templatesDir(): string {
  return process.env['TARS_TEMPLATES'] ?? join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'templates');
}
