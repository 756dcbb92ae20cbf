// Starts Swagger UI on the element #swagger-ui, rendering the OpenAPI
// document named by its data-openapi attribute. A file of its own, not an
// inline script, so the page's Content-Security-Policy can forbid inline
// scripts.
(function () {
  "use strict";
  var el = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: el.dataset.openapi,
    domNode: el,
    // No deep-link anchors inside the operations' summary buttons:
    // a link nested in a button is unreachable by keyboard (axe
    // nested-interactive).
    deepLinking: false,
    // No badge fetched from the public validator: nothing leaves the host.
    validatorUrl: null,
    // The page's URL never chooses another document (no ?url= or
    // ?configUrl= from a crafted link).
    queryConfigEnabled: false,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
  });
})();
