// Swagger UI for /api/v1/openapi.json, from the vendored bundle (no CDN).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") {
      return;
    }
    window.SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      dom_id: "#swagger-ui",
      deepLinking: true,
      persistAuthorization: false,
      // Never fetch a validator badge from the internet.
      validatorUrl: null,
    });
  });
})();
