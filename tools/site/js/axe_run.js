// axe-core's WCAG A/AA violations: one entry per element, with its own impact.
async (tags) => {
  const result = await axe.run(document, {
    runOnly: {type: "tag", values: tags}, resultTypes: ["violations"],
  });
  return result.violations.flatMap((rule) => rule.nodes.map((node) => ({
    rule: rule.id, impact: node.impact || rule.impact, help: rule.help,
    target: node.target.map(String).join(" "),
  })));
}
