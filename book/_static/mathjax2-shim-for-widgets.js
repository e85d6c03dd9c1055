// ipywidgets' typeset() (in @jupyter-widgets/base, bundled in the widget manager) calls the
// MathJax 2 API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), whenever a global
// MathJax exists. The book loads MathJax 3, which has no Hub, so every widget with a
// description threw "Cannot read properties of undefined (reading 'Queue')". This adds the
// one call the widgets use, mapped to MathJax 3's typesetPromise. It runs on `load`, after
// MathJax 3 has replaced its configuration object, and before the widget manager renders
// (this file is listed before embed.js in _config.yml's nb_ipywidgets_js).
window.addEventListener("load", function () {
  var mathjax = window.MathJax;
  if (!mathjax || mathjax.Hub || typeof mathjax.typesetPromise !== "function") {
    return;
  }
  mathjax.Hub = {
    Queue: function () {
      var elements = [];
      for (var i = 0; i < arguments.length; i++) {
        var job = arguments[i];
        if (Array.isArray(job) && job[0] === "Typeset" && job[2]) {
          elements.push(job[2]);
        }
      }
      var ready = mathjax.startup && mathjax.startup.promise ? mathjax.startup.promise : Promise.resolve();
      return ready.then(function () {
        return elements.length ? mathjax.typesetPromise(elements) : null;
      });
    }
  };
});
