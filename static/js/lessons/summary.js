// The model's summary as the course prints it (GET /summary): layers, output shapes, parameter
// counts as Keras's model.summary() (trainable and not), and each Conv2D's depthwise-separable cost.

import { lessonsApi } from "../api.js";
import { element, errorText } from "./util.js";

const n = (value) => value.toLocaleString("en-US");

export class SummaryTable {
  constructor(root) {
    this.table = root.querySelector("[data-sm=table]");
    this.status = root.querySelector("[data-sm=status]");
  }

  async setModel(detail) {
    this.table.replaceChildren();
    try {
      const summary = await lessonsApi.summary(detail.id);
      const head = element("tr", {}, ["Layer (type)", "Output shape", "Param #", "Trainable", "Non-trainable", "As depthwise-separable"].map((text) => element("th", { scope: "col", text })));
      const rows = summary.layers.map((row) => {
        const cost = row.separable;
        const separable = cost
          ? `${cost.kernel_size.join("×")}×${cost.in_channels} + ${cost.in_channels}×${cost.out_channels}${cost.biases ? ` + ${cost.biases}` : ""} = ${n(cost.separable_parameters)} (${(cost.ratio * 100).toFixed(1)}% of ${cost.kernel_size.join("×")}×${cost.in_channels}×${cost.out_channels}${cost.biases ? ` + ${cost.biases}` : ""} = ${n(cost.conv_parameters)})`
          : "";
        return element("tr", { "data-layer": row.name }, [
          element("td", { text: `${row.name} (${row.class_name})` }),
          element("td", { text: `(None, ${row.output_shape.map((d) => (d === null ? "None" : d)).join(", ")})` }),
          element("td", { class: "num", "data-testid": "param-count", text: n(row.parameters) }),
          element("td", { class: "num", text: n(row.trainable) }),
          element("td", { class: "num", text: n(row.non_trainable) }),
          element("td", { class: "sep", text: separable }),
        ]);
      });
      const total = (label, value, testid) =>
        element("tr", { class: "total" }, [element("td", { colspan: "2", text: label }), element("td", { class: "num", "data-testid": testid, text: n(value) }), element("td", { colspan: "3" })]);
      this.table.append(
        element("thead", {}, [head]),
        element("tbody", {}, rows),
        element("tfoot", {}, [
          total("Total params", summary.total, "total-params"),
          total("Trainable params", summary.trainable, "trainable-params"),
          total("Non-trainable params", summary.non_trainable, "non-trainable-params"),
        ]),
      );
      this.status.textContent = `${n(summary.total)} parameters, ${(summary.total_bytes / 1024).toFixed(1)} KB. Separable cost: K×K×C_in (depthwise) + C_in×C_out (pointwise) + one bias per output channel, as Keras's SeparableConv2D.`;
    } catch (error) {
      this.status.textContent = errorText(error);
    }
  }
}
