// Placeholder: replaced by the database harness (embedded PostgreSQL or DATABASE_URL).
export default async function setup() {}
