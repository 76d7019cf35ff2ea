// Starts Swagger UI on the OpenAPI document this server publishes. A separate file rather than
// an inline <script>, so the docs page works under `script-src 'self'`.
"use strict";

window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  // The default validator badge would fetch from validator.swagger.io; we stay offline.
  validatorUrl: null,
  presets: [SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
