// Client certificates at the edge (tls.clientAuth; DESIGN.md "Contract, second round"). The HTTPS
// listener asks for a certificate and verifies it against tls.clientAuth.ca; this stage passes the
// verified subject to the route's upstream in the route's clientCertHeader (RFC 4514, see
// tls/client-subject.ts) and answers 403 client_cert_required on routes with requireClientCert when there
// is none. Plain-HTTP requests (tls.redirectHttp: false) never carry a certificate.
//
// The header is only ever Rampart's: whatever the client sent in it is removed first, on every route,
// so an upstream can trust it. A route with clientCertHeader "" sends no subject, and still loses an
// X-Client-Cert-Subject from the client, in case its upstream reads the default name anyway. Without
// tls.clientAuth (at start) no route gets this stage and the header is not touched.
import type { RouteStageFactory } from "./stage-factory.js";
import { replies } from "../pipeline/answers.js";
import { verifiedClientSubject } from "../tls/client-subject.js";

const DEFAULT_HEADER = "x-client-cert-subject";

export const clientCertStage: RouteStageFactory = (route, { clientCertificates }) => {
  // From the listener's settings, not the reloaded config (tls.clientAuth is restart-only): a reload that
  // drops the CA must not drop the header's removal while the listener still verifies certificates, and
  // a route that requires a certificate the listener never asks for answers 403 (fails closed).
  if (!clientCertificates && !route.config.requireClientCert) return undefined;
  const header = route.config.clientCertHeader.toLowerCase();
  // What the client's request loses: the route's header, or with "" the default name.
  const removed = header === "" ? DEFAULT_HEADER : header;
  const required = route.config.requireClientCert;

  return {
    name: "client-cert",
    run(ctx) {
      const headers = ctx.req.headers;
      // Client-sent, so never believed.
      if (headers[removed] !== undefined) delete headers[removed];
      const subject = verifiedClientSubject(ctx.socket);
      if (subject === undefined) return required ? replies.clientCertRequired : undefined;
      if (header !== "") headers[header] = subject;
      return undefined;
    },
  };
};
