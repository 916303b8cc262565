set terminal pngcairo size 1000,600 font 'sans,11'
set output 'txn_per_s.png'
set title "figure2: throughput by injected packet loss (median, whiskers min–max, 3 reps × 12 s)"
set datafile missing 'NaN'
set style data histogram
set style histogram errorbars gap 2 lw 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key below horizontal
set grid ytics
set yrange [0:*]
unset xlabel
set ylabel "throughput (txn/s)"
plot 'txn_per_s.dat' using 2:3:4:xtic(1) title "TCP", \
     '' using 5:6:7 title "UDP", \
     '' using 8:9:10 title "TMC unreliable", \
     '' using 11:12:13 title "TMC unreliable + multicast", \
     '' using 14:15:16 title "TMC reliable", \
     '' using 17:18:19 title "TMC reliable group (2 of 3)"
