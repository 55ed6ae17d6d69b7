// A minimal Probot 14 app (bench/ack_vs_probot.py): verifies each delivery's signature and routes
// issue_comment events to a handler that does nothing; it persists and enqueues nothing.
// Environment: PORT, APP_ID, PRIVATE_KEY, WEBHOOK_SECRET.
import { createServer } from "node:http";
import { createNodeMiddleware, createProbot } from "probot";

const app = (probot) => {
  probot.on("issue_comment.created", async () => {});
};

const middleware = await createNodeMiddleware(app, {
  probot: createProbot({ overrides: { logLevel: "warn" } }),
  webhooksPath: "/webhooks/github",
});

const server = createServer((request, response) =>
  middleware(request, response, () => {
    response.writeHead(404);
    response.end();
  }),
);
server.keepAliveTimeout = 60_000;
server.listen(Number(process.env.PORT), "127.0.0.1", () => console.log(`listening on ${process.env.PORT}`));
