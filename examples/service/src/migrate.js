// The service's schema migrations, run once before each rollout as a one-off task of the new
// image (ecs-deploy's pre-deploy-command: `node src/migrate.js`, or `npm run migrate` where the
// image has npm). The example has no database: it says what it applies, in order, and exits 0.
// FAIL_MODE=migration adds a migration that fails, as a build with a broken one would: the
// last line says which one and why, and the exit code is 1.
//
// Every line goes to stdout: a log reader merges stdout and stderr by arrival, so lines written
// to both within a moment may swap, and the last line must stay the one that says what failed.
const version = process.env.APP_VERSION || 'dev'
const database = process.env.DATABASE_NAME || 'payments'

const migrations = [
  ['0001_create_payments', 'CREATE TABLE IF NOT EXISTS payments'],
  ['0002_create_ledger_entries', 'CREATE TABLE IF NOT EXISTS ledger_entries'],
  ['0003_add_payment_fees', 'ALTER TABLE payments ADD COLUMN IF NOT EXISTS fee_minor']
]
const broken = [
  '0004_backfill_ledger_ids',
  'UPDATE payments SET ledger_id',
  'column "ledger_id" of relation "payments" does not exist'
]

const failing = process.env.FAIL_MODE === 'migration'
const plan = failing ? [...migrations, broken] : migrations

console.log(`migrate: ${plan.length} migrations for database ${database} (version ${version})`)
let applied = ''
for (const [name, statement, error] of plan) {
  if (error) {
    console.log(`migrate: ${name}: ${statement} failed`)
    console.log(
      `migrate: failed at ${name}: ERROR: ${error}; rolled back, the schema stays at ${applied}`
    )
    // Set, not process.exit(): the lines above are written out before the process ends.
    process.exitCode = 1
    break
  }
  console.log(`migrate: ${name}: ${statement} applied`)
  applied = name
}
if (process.exitCode !== 1) console.log(`migrate: schema is at ${applied}`)
