import Foundation

/// The picture of a scenario: throughput over time (phases one after another) on the left,
/// latency percentiles per phase (log scale) on the right. Plain SVG, no scripts, readable without colour
/// (answers solid, commits dashed; bars labelled with their values).
struct SVGChart {
    let report: ScenarioReport

    private let width = 1100.0
    private let height = 440.0
    private let palette = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf", "#7f7f7f"]

    func render() -> String {
        var svg: [String] = []
        svg.append(
            #"<svg xmlns="http://www.w3.org/2000/svg" width="\#(Int(width))" height="\#(Int(height))" font-family="sans-serif" font-size="11">"#
        )
        svg.append(#"<rect width="100%" height="100%" fill="white"/>"#)
        svg.append(#"<text x="10" y="18" font-size="14" font-weight="bold">\#(escape("\(report.scenario) — \(report.lastLine)"))</text>"#)
        svg.append(
            #"<text x="10" y="34" fill="dimgray">\#(escape(report.machine + " · " + ISO8601DateFormatter().string(from: report.startedAt)))</text>"#
        )
        svg += throughput(x: 50, y: 60, width: 560, height: 320)
        svg += latencies(x: 680, y: 60, width: 400, height: 320)
        svg.append("</svg>")
        return svg.joined(separator: "\n")
    }

    /// Answers/s (solid) and commits/s (dashed) per phase, phases end to end on one time axis.
    private func throughput(x: Double, y: Double, width: Double, height: Double) -> [String] {
        var out = [#"<text x="\#(x)" y="\#(y - 8)" font-weight="bold">throughput (per second, 250 ms buckets)</text>"#]
        let series = report.phases.map { phase in (phase, phase.answers.ratesPerSecond, phase.commits?.ratesPerSecond ?? []) }
        let totalSeconds = series.reduce(0.0) { sum, item in
            sum + Double(max(item.1.count, item.2.count)) * Double(item.0.answers.bucketMilliseconds) / 1000
        }
        let peak = max(1, series.flatMap { $0.1 + $0.2 }.max() ?? 1)
        let top = niceCeiling(peak)
        out += axes(x: x, y: y, width: width, height: height, yMax: top, yLabel: "/s", xLabel: String(format: "%.0f s", totalSeconds))
        var offset = 0.0
        for (index, (phase, answers, commits)) in series.enumerated() {
            let color = palette[index % palette.count]
            let bucket = Double(phase.answers.bucketMilliseconds) / 1000
            func path(_ rates: [Double]) -> String {
                rates.enumerated().map { step, rate in
                    let px = x + (offset + Double(step) * bucket) / max(totalSeconds, 0.001) * width
                    let py = y + height - rate / top * height
                    return String(format: "%@%.1f,%.1f", step == 0 ? "M" : "L", px, py)
                }.joined(separator: " ")
            }
            if !answers.isEmpty {
                out.append(#"<path d="\#(path(answers))" fill="none" stroke="\#(color)" stroke-width="1.5"/>"#)
            }
            if !commits.isEmpty {
                out.append(#"<path d="\#(path(commits))" fill="none" stroke="\#(color)" stroke-width="1.5" stroke-dasharray="5,3"/>"#)
            }
            let labelX = x + offset / max(totalSeconds, 0.001) * width + 2
            out.append(
                #"<text x="\#(String(format: "%.1f", labelX))" y="\#(y + height + 28 + Double(index % 2) * 12)" fill="\#(color)">\#(escape(phase.name))</text>"#
            )
            offset += Double(max(answers.count, commits.count)) * bucket
        }
        out.append(#"<text x="\#(x)" y="\#(y + height + 58)" fill="dimgray">solid: HTTP answers · dashed: commits</text>"#)
        return out
    }

    /// p50, p90, p99, p99.9 and max per phase, bars on a log scale, each labelled.
    private func latencies(x: Double, y: Double, width: Double, height: Double) -> [String] {
        var out = [#"<text x="\#(x)" y="\#(y - 8)" font-weight="bold">latency percentiles (ms, log scale)</text>"#]
        let phases = report.phases
        let values = phases.map { phase -> [Double] in
            let latency = phase.commitLatency ?? phase.latency
            return [latency.p50, latency.p90, latency.p99, latency.p999, latency.max]
        }
        let peak = max(10, values.flatMap { $0 }.max() ?? 10)
        let decades = max(1, Int(ceil(log10(peak))) + 1)  // from 0.1 ms
        func scale(_ value: Double) -> Double {
            let clamped = max(value, 0.1)
            return (log10(clamped) + 1) / Double(decades) * height
        }
        out.append(#"<line x1="\#(x)" y1="\#(y)" x2="\#(x)" y2="\#(y + height)" stroke="black"/>"#)
        out.append(#"<line x1="\#(x)" y1="\#(y + height)" x2="\#(x + width)" y2="\#(y + height)" stroke="black"/>"#)
        for decade in 0...decades {
            let value = pow(10, Double(decade - 1))
            let py = y + height - Double(decade) / Double(decades) * height
            out.append(#"<line x1="\#(x - 3)" y1="\#(py)" x2="\#(x + width)" y2="\#(py)" stroke="gainsboro"/>"#)
            out.append(#"<text x="\#(x - 6)" y="\#(py + 4)" text-anchor="end">\#(value < 1 ? String(value) : String(Int(value)))</text>"#)
        }
        let names = ["p50", "p90", "p99", "p99.9", "max"]
        let groupWidth = width / Double(max(phases.count, 1))
        let barWidth = min(14, (groupWidth - 10) / Double(names.count))
        for (index, phase) in phases.enumerated() {
            let color = palette[index % palette.count]
            let groupX = x + Double(index) * groupWidth + 6
            for (bar, value) in values[index].enumerated() {
                let barHeight = scale(value)
                let bx = groupX + Double(bar) * barWidth
                out.append(
                    #"<rect x="\#(String(format: "%.1f", bx))" y="\#(String(format: "%.1f", y + height - barHeight))" width="\#(String(format: "%.1f", barWidth - 2))" height="\#(String(format: "%.1f", barHeight))" fill="\#(color)" fill-opacity="\#(0.35 + 0.15 * Double(bar))"><title>\#(escape("\(phase.name) \(names[bar]) \(ScenarioReport.format(value)) ms"))</title></rect>"#
                )
                // Labels on p50, p99 and max only: five would overlap.
                if bar == 0 || bar == 2 || bar == 4 {
                    out.append(
                        #"<text x="\#(String(format: "%.1f", bx + barWidth / 2))" y="\#(String(format: "%.1f", y + height - barHeight - 3))" font-size="8" text-anchor="middle">\#(ScenarioReport.format(value))</text>"#
                    )
                }
            }
            out.append(
                #"<text x="\#(String(format: "%.1f", groupX))" y="\#(y + height + 14 + Double(index % 3) * 12)" fill="\#(color)">\#(escape(phase.name))</text>"#
            )
        }
        out.append(#"<text x="\#(x)" y="\#(y + height + 58)" fill="dimgray">bars per phase: p50 · p90 · p99 · p99.9 · max</text>"#)
        return out
    }

    private func axes(x: Double, y: Double, width: Double, height: Double, yMax: Double, yLabel: String, xLabel: String) -> [String] {
        var out = [
            #"<line x1="\#(x)" y1="\#(y)" x2="\#(x)" y2="\#(y + height)" stroke="black"/>"#,
            #"<line x1="\#(x)" y1="\#(y + height)" x2="\#(x + width)" y2="\#(y + height)" stroke="black"/>"#,
            #"<text x="\#(x + width)" y="\#(y + height + 14)" text-anchor="end">\#(escape(xLabel))</text>"#,
        ]
        for tick in 0...4 {
            let value = yMax * Double(tick) / 4
            let py = y + height - Double(tick) / 4 * height
            out.append(#"<line x1="\#(x - 3)" y1="\#(py)" x2="\#(x + width)" y2="\#(py)" stroke="gainsboro"/>"#)
            out.append(#"<text x="\#(x - 6)" y="\#(py + 4)" text-anchor="end">\#(Int(value))</text>"#)
        }
        out.append(#"<text x="\#(x - 6)" y="\#(y + height + 14)" text-anchor="end">\#(escape(yLabel))</text>"#)
        return out
    }

    /// 1, 2 or 5 times a power of ten, at least `value`.
    func niceCeiling(_ value: Double) -> Double {
        let power = pow(10, floor(log10(value)))
        for step in [1.0, 2, 5, 10] where step * power >= value { return step * power }
        return 10 * power
    }

    private func escape(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}
