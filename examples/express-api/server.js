// A protected Express API, done right with latchkey/verify. Run Latchkey (npm start), then:
//   npm run example:express   (LATCHKEY_ISSUER: where Latchkey is, default http://localhost:3000;
//                              API_PORT: this API's port, default 4000)
// GET /orders needs a valid access token; DELETE /orders/:id needs the role admin as well.
import express from 'express';
import { createRemoteVerifier } from 'latchkey/verify';
import { requireAuth, requireRole } from 'latchkey/verify/express';

const issuer = process.env.LATCHKEY_ISSUER ?? 'http://localhost:3000';
const verifier = createRemoteVerifier({
  issuer,
  audience: process.env.LATCHKEY_AUDIENCE ?? issuer,
  revocations: true,
});

const orders = new Map([
  ['1', { id: '1', item: 'keyboard' }],
  ['2', { id: '2', item: 'latch' }],
]);

const app = express();
app.get('/orders', requireAuth(verifier), (req, res) => {
  res.json({ user: req.auth.sub, orders: [...orders.values()] });
});
app.delete('/orders/:id', requireAuth(verifier), requireRole('admin'), (req, res) => {
  orders.delete(req.params.id);
  res.status(204).end();
});
app.get('/health', (_req, res) => res.json({ verifier: verifier.status() }));

const server = app.listen(Number(process.env.API_PORT ?? 4000), '127.0.0.1', () => {
  console.log(`orders API on http://127.0.0.1:${server.address().port}, trusting ${issuer}`);
});
