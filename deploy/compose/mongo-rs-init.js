// The one-shot `mongo-init` service (mongosh --nodb): initiate the replica set rs0 once, wait until it
// has a primary, then create or update the gateway's own user (readWrite on its database only; the
// services never hold the root password). Safe to run again: every step checks before it acts, and
// every wait is bounded, so a broken set fails this container (and so the services' start) loudly.
const env = process.env;
const MEMBERS = ["mongo-1:27017", "mongo-2:27017", "mongo-3:27017"];
const DEADLINE = Date.now() + 180 * 1000;
const ALREADY_INITIALIZED = 23;

function rootUri(hosts, query) {
  const user = encodeURIComponent(env.MONGO_ROOT_USER);
  const password = encodeURIComponent(env.MONGO_ROOT_PASSWORD);
  return `mongodb://${user}:${password}@${hosts.join(",")}/admin?authSource=admin&${query}`;
}

function waitFor(what, attempt) {
  let last = "no attempt yet";
  while (Date.now() < DEADLINE) {
    try {
      const value = attempt();
      if (value) return value;
      last = "not yet";
    } catch (error) {
      last = error.message;
    }
    sleep(1000);
  }
  throw new Error(`timed out waiting for ${what}: ${last}`);
}

const first = waitFor("mongo-1", () => connect(rootUri([MEMBERS[0]], "directConnection=true")));
try {
  first.adminCommand({
    replSetInitiate: { _id: "rs0", members: MEMBERS.map((host, index) => ({ _id: index, host })) },
  });
  print("mongo-init: replica set rs0 initiated");
} catch (error) {
  if (error.code !== ALREADY_INITIALIZED) throw error;
  print("mongo-init: replica set rs0 already initiated");
}

const set = waitFor("a primary", () => {
  const db = connect(rootUri(MEMBERS, "replicaSet=rs0&serverSelectionTimeoutMS=5000"));
  return db.hello().isWritablePrimary ? db : null;
});

const app = set.getSiblingDB(env.MONGO_DB);
const roles = [{ role: "readWrite", db: env.MONGO_DB }];
if (app.getUser(env.MONGO_APP_USER)) {
  // Keeps the password in step with .env, so rotating it there and rerunning this job is enough.
  app.updateUser(env.MONGO_APP_USER, { pwd: env.MONGO_APP_PASSWORD, roles });
  print(`mongo-init: user ${env.MONGO_APP_USER} updated`);
} else {
  app.createUser({ user: env.MONGO_APP_USER, pwd: env.MONGO_APP_PASSWORD, roles });
  print(`mongo-init: user ${env.MONGO_APP_USER} created`);
}
